#!/usr/bin/env bash
# Benchmark (not a test): what Prometheus scrapes cost the node. The 3-node
# chain A - B - C in network namespaces, the transit node B serving
# metrics on 127.0.0.1:9464 (its own namespace). Alternating rounds of
# iperf3 A->C (2 hops, through B) with no scraper and with a scraper at
# SCRAPE_HZ (default 10) GET /metrics over one keep-alive connection,
# as Prometheus does, and then the same rounds with metrics off (B
# restarted without `metrics:`), the baseline in the same run.
#
# Per round: throughput, and B's CPU split by thread: the main thread (the
# node task: every datagram and TUN packet) and the `fips-metrics` thread
# (the scrapes), from /proc/PID/task/*/stat, per GB carried.
#
# Usage: sudo testing/bench/metrics-bench.sh [--record]
#   FIPS_BIN (default target/release/fips), DURATION (10 s), ROUNDS (3),
#   SCRAPE_HZ (10). --record appends the table to docs/benchmarks.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
FIPS_BIN="${FIPS_BIN:-$ROOT/target/release/fips}"
DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-3}"
SCRAPE_HZ="${SCRAPE_HZ:-10}"
RECORD=0; [ "${1:-}" = "--record" ] && RECORD=1
P=mb
NS=("$P-a" "$P-b" "$P-c")
RUN="$(mktemp -d /tmp/fips-metrics-bench.XXXXXX)"
# Test keys (testdata/identity.json): NSEC, NPUB, FD.
# shellcheck source=../lib/keys.sh
source "$ROOT/testing/lib/keys.sh"
PIDS=()
SCRAPER=""

# chain_topology, chain_cleanup, fips_config: testing/bench/lib.sh
# shellcheck source=lib.sh
source "$ROOT/testing/bench/lib.sh"

cleanup() {
    [ -n "$SCRAPER" ] && kill "$SCRAPER" 2>/dev/null || true
    chain_cleanup
}
trap cleanup EXIT

topology() { chain_topology 202; }


start_chain() { # metrics: 1 or 0
    fips_config a 10.202.0.2; fips_config b ""; fips_config c 10.202.0.5
    if [ "$1" = 1 ]; then printf 'metrics:\n  bind_addr: "127.0.0.1:9464"\n' >> "$RUN/b/fips.yaml"; fi
    for n in b a c; do
        (cd "$RUN/$n" && RUST_LOG=warn exec ip netns exec "$P-$n" "$FIPS_BIN" -c "$RUN/$n/fips.yaml") \
            >"$RUN/$n.log" 2>&1 &
        PIDS+=($!)
    done
    B_PID=${PIDS[-3]}
    chain_wait_up metrics-bench
}

stop_chain() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PIDS=()
}

# CPU ticks (utime + stime) of B's threads: "main metrics".
ticks() {
    local main=0 metrics=0 t comm v
    for t in /proc/"$B_PID"/task/*; do
        comm=$(cat "$t/comm" 2>/dev/null || echo gone)
        v=$(awk '{print $14 + $15}' "$t/stat" 2>/dev/null || echo 0)
        if [ "$(basename "$t")" = "$B_PID" ]; then main=$v; elif [ "$comm" = fips-metrics ]; then metrics=$v; fi
    done
    echo "$main $metrics"
}

start_scraper() { # writes the count of scrapes to $RUN/scrapes when killed
    ip netns exec "$P-b" python3 - "$SCRAPE_HZ" "$RUN/scrapes" <<'PY' &
import http.client, signal, sys, time
hz, out = float(sys.argv[1]), sys.argv[2]
n, conn = 0, http.client.HTTPConnection("127.0.0.1", 9464, timeout=5)
def done(*_):
    open(out, "w").write(str(n)); sys.exit(0)
signal.signal(signal.SIGTERM, done)
while True:
    conn.request("GET", "/metrics"); r = conn.getresponse(); body = r.read()
    assert r.status == 200 and b"fips_link_bytes_total" in body, r.status
    n += 1; time.sleep(1 / hz)
PY
    SCRAPER=$!
}

stop_scraper() {
    kill "$SCRAPER"; wait "$SCRAPER" 2>/dev/null || true; SCRAPER=""
}

round() { # label scrape(0/1)
    local before after mbit scrapes=0 hz=$((SCRAPE_HZ * $2))
    [ "$2" = 1 ] && start_scraper && sleep 1
    before=$(ticks)
    ip netns exec "$P-c" iperf3 -s -1 -D -p 5201 >/dev/null 2>&1; sleep 0.3
    mbit=$(ip netns exec "$P-a" iperf3 -c "${FD[c]}" -p 5201 -t "$DURATION" -J 2>/dev/null \
        | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6))')
    after=$(ticks)
    if [ "$2" = 1 ]; then stop_scraper; scrapes=$(cat "$RUN/scrapes"); fi
    read -r m0 s0 <<< "$before"; read -r m1 s1 <<< "$after"
    local gb main_ms scr_ms
    gb=$(echo "$mbit * $DURATION / 8000" | bc -l)
    main_ms=$(( (m1 - m0) * 10 )); scr_ms=$(( (s1 - s0) * 10 ))
    ROWS+=("$1|$hz|$mbit|$main_ms|$(printf %.0f "$(echo "$main_ms / $gb" | bc -l)")|$scr_ms|$scrapes")
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

column_of() { # label field -> that field of the label's rows, one a line
    printf '%s\n' "${ROWS[@]}" | awk -F'|' -v l="$1" -v f="$2" '$1 == l {print $f}'
}

main() {
    command -v iperf3 >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3 >/dev/null
    [ -x "$FIPS_BIN" ] || { echo "metrics-bench: $FIPS_BIN missing: cargo build --release -p fips" >&2; exit 1; }
    ROWS=()
    topology
    start_chain 1
    for _ in $(seq 1 "$ROUNDS"); do round "metrics on, no scraper" 0; round "metrics on, scraped" 1; done
    stop_chain
    start_chain 0
    for _ in $(seq 1 "$ROUNDS"); do round "metrics off" 0; done
    stop_chain
    {
        echo "| round | scrapes/s | TCP A->C (2 hops) Mbit/s | B main thread CPU ms | B main thread CPU ms/GB | B metrics thread CPU ms | scrapes |"
        echo "|---|---:|---:|---:|---:|---:|---:|"
        for r in "${ROWS[@]}"; do IFS='|' read -r a b c d e f g <<< "$r"; echo "| $a | $b | $c | $d | $e | $f | $g |"; done
        echo
        for label in "metrics off" "metrics on, no scraper" "metrics on, scraped"; do
            local mb cpu
            mb=$(column_of "$label" 3 | median)
            cpu=$(column_of "$label" 5 | median)
            echo "- $label: median $mb Mbit/s, main thread $cpu ms CPU per GB"
            eval "MB_${label//[^a-z]/_}=$mb CPU_${label//[^a-z]/_}=$cpu"
        done
        printf -- '- scraped / not scraped: throughput x%.3f, main thread CPU per GB x%.3f; not scraped / metrics off: x%.3f, x%.3f\n' \
            "$(echo "$MB_metrics_on__scraped / $MB_metrics_on__no_scraper" | bc -l)" \
            "$(echo "$CPU_metrics_on__scraped / $CPU_metrics_on__no_scraper" | bc -l)" \
            "$(echo "$MB_metrics_on__no_scraper / $MB_metrics_off" | bc -l)" \
            "$(echo "$CPU_metrics_on__no_scraper / $CPU_metrics_off" | bc -l)"
        echo
        echo "iperf3 ${DURATION} s single stream per round, ${ROUNDS} rounds each, alternating. $(nproc) cores, kernel $(uname -r), $(date -u +%F)."
    } | tee "$RUN/table.md"
    bench_record "Metrics scrape cost" "sudo testing/bench/metrics-bench.sh --record"
}
main
