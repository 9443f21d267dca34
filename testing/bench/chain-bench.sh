#!/usr/bin/env bash
# Benchmark (not a test): a 3-node chain A - B - C in network namespaces,
# measured with our daemon and, on the same veths in the same run, with
# wireguard-go (and a second FIPS implementation when FIPS_REF_BIN is set,
# e.g. a reference v0.4.1 build you made yourself; nothing here builds it).
#
#   iperf3 TCP single stream A->B (1 hop) and A->C (2 hops)
#   ping RTT A->C (2 hops), median, beside the raw veth A->B
#   peak resident memory per daemon while iperf3 runs
#
# Usage: sudo testing/bench/chain-bench.sh [--record]
#   FIPS_BIN (default target/release/fips), FIPS_REF_BIN, DURATION (10 s).
# --record appends the table to docs/benchmarks.md with this command line.
# Installs iperf3, wireguard-go and wireguard-tools from Debian if missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
FIPS_BIN="${FIPS_BIN:-$ROOT/target/release/fips}"
DURATION="${DURATION:-10}"
RECORD=0; [ "${1:-}" = "--record" ] && RECORD=1
P=fb
NS=("$P-a" "$P-b" "$P-c")
RUN="$(mktemp -d /tmp/fips-bench.XXXXXX)"
# Test keys (testdata/identity.json): NSEC, NPUB, FD.
# shellcheck source=../lib/keys.sh
source "$ROOT/testing/lib/keys.sh"
PIDS=()

need() { # binary package
    command -v "$1" >/dev/null && return
    echo "chain-bench: installing Debian package $2"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

# chain_topology, chain_cleanup, fips_config: testing/bench/lib.sh
# shellcheck source=lib.sh
source "$ROOT/testing/bench/lib.sh"

cleanup() {
    chain_cleanup
}
trap cleanup EXIT

topology() { chain_topology 201; }


start_fips() { # binary
    fips_config a 10.201.0.2; fips_config b ""; fips_config c 10.201.0.5
    FIPS_PIDS=()
    for n in b a c; do
        (cd "$RUN/$n" && RUST_LOG=warn exec ip netns exec "$P-$n" "$1" -c "$RUN/$n/fips.yaml") \
            >"$RUN/$n.log" 2>&1 &
        PIDS+=($!); FIPS_PIDS+=($!)
    done
    chain_wait_up "chain-bench ($1)"
}

stop_all() { chain_stop_all; }

iperf() { # from_ns server_ns addr -> Mbit/s
    ip netns exec "$2" iperf3 -s -1 -D -p 5201 >/dev/null 2>&1; sleep 0.3
    ip netns exec "$1" iperf3 -c "$3" -p 5201 -t "$DURATION" -J 2>/dev/null \
        | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6))'
}

ping_median() { # ns addr -> ms
    ip netns exec "$1" ping -c 40 -i 0.05 "$2" 2>/dev/null | sed -n 's/.*time=\([0-9.]*\).*/\1/p' \
        | sort -n | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else print a[int((NR+1)/2)]}'
}

peak_rss_during() { # command... ; prints max VmRSS (MB) over FIPS_PIDS while it runs
    "$@" > "$RUN/out" & local job=$! peak=0 kb
    while kill -0 "$job" 2>/dev/null; do
        for p in "${FIPS_PIDS[@]}"; do
            for c in $(pgrep -P "$p") "$p"; do
                kb=$(awk '/VmRSS/ {print $2}' "/proc/$c/status" 2>/dev/null || echo 0)
                [ "${kb:-0}" -gt "$peak" ] && peak=$kb
            done
        done
        sleep 0.5
    done
    wait "$job"; echo "$(cat "$RUN/out") $((peak / 1024))"
}

measure_fips() { # label binary
    start_fips "$2"
    local one two rss
    read -r one rss < <(peak_rss_during iperf "$P-a" "$P-b" "${FD[b]}")
    two=$(iperf "$P-a" "$P-c" "${FD[c]}")
    RESULTS+=("$1|$one|$two|$(ping_median "$P-a" "${FD[c]}")|$rss")
    stop_all
}

measure_wg() {
    need wireguard-go wireguard-go; need wg wireguard-tools
    local n; declare -A KEY PUB
    for n in a b c; do KEY[$n]=$(wg genkey); PUB[$n]=$(echo "${KEY[$n]}" | wg pubkey); done
    for n in a b c; do
        ip netns exec "$P-$n" env WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 wireguard-go "${P}wg$n" >/dev/null 2>&1
        echo "${KEY[$n]}" > "$RUN/wg-$n.key"
        ip netns exec "$P-$n" wg set "${P}wg$n" private-key "$RUN/wg-$n.key" listen-port 51820
        ip -n "$P-$n" link set "${P}wg$n" mtu 1280 up
    done
    ip -n "$P-a" addr add 10.210.0.1/24 dev "${P}wga"
    ip -n "$P-b" addr add 10.210.0.2/24 dev "${P}wgb"
    ip -n "$P-c" addr add 10.210.0.3/24 dev "${P}wgc"
    ip netns exec "$P-a" wg set "${P}wga" peer "${PUB[b]}" endpoint 10.201.0.2:51820 allowed-ips 10.210.0.0/24
    ip netns exec "$P-b" wg set "${P}wgb" peer "${PUB[a]}" endpoint 10.201.0.1:51820 allowed-ips 10.210.0.1/32 \
        peer "${PUB[c]}" endpoint 10.201.0.6:51820 allowed-ips 10.210.0.3/32
    ip netns exec "$P-c" wg set "${P}wgc" peer "${PUB[b]}" endpoint 10.201.0.5:51820 allowed-ips 10.210.0.0/24
    ip netns exec "$P-b" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$P-a" ping -c2 -W2 10.210.0.3 >/dev/null 2>&1 || true
    FIPS_PIDS=($(pgrep -f "wireguard-go ${P}wg" | tr '\n' ' '))
    local one two rss
    read -r one rss < <(peak_rss_during iperf "$P-a" "$P-b" 10.210.0.2)
    two=$(iperf "$P-a" "$P-c" 10.210.0.3)
    RESULTS+=("wireguard-go|$one|$two|$(ping_median "$P-a" 10.210.0.3)|$rss")
    for n in a b c; do ip -n "$P-$n" link del "${P}wg$n" 2>/dev/null || true; done
    pkill -f "wireguard-go ${P}wg" || true
}

main() {
    need iperf3 iperf3; need dig dnsutils
    [ -x "$FIPS_BIN" ] || { echo "chain-bench: $FIPS_BIN missing: cargo build --release -p fips" >&2; exit 1; }
    RESULTS=()
    topology
    local raw; raw=$(ping_median "$P-a" 10.201.0.2)
    measure_fips "fips (ours)" "$FIPS_BIN"
    if [ -n "${FIPS_REF_BIN:-}" ]; then measure_fips "reference ($(basename "$FIPS_REF_BIN"))" "$FIPS_REF_BIN"; fi
    measure_wg
    local base_one base_two; IFS='|' read -r _ base_one base_two _ _ <<< "${RESULTS[-1]}"
    {
        echo "| implementation | TCP 1 hop Mbit/s | x wg-go | TCP 2 hops Mbit/s | x wg-go | ping 2 hops median ms | added vs raw veth ms | peak RSS MB |"
        echo "|---|---|---|---|---|---|---|---|"
        for r in "${RESULTS[@]}"; do
            IFS='|' read -r name one two rtt rss <<< "$r"
            printf '| %s | %s | %.2f | %s | %.2f | %s | %.3f | %s |\n' "$name" "$one" \
                "$(echo "$one / $base_one" | bc -l)" "$two" "$(echo "$two / $base_two" | bc -l)" \
                "$rtt" "$(echo "$rtt - $raw" | bc -l)" "$rss"
        done
        echo
        echo "Raw veth ping A->B median: $raw ms. iperf3 duration ${DURATION} s, single stream. $(nproc) cores, kernel $(uname -r), $(date -u +%F)."
    } | tee "$RUN/table.md"
    bench_record "Chain benchmark" "sudo ${FIPS_REF_BIN:+FIPS_REF_BIN=... }testing/bench/chain-bench.sh --record"
}
main
