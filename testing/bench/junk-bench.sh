#!/usr/bin/env bash
# Benchmark (not a test): junk handshakes against a transit node. A 3-node
# chain A - B - C in network namespaces; a fourth namespace X, wired to B,
# floods B's FIPS port with msg1-shaped junk (valid curve point, garbage
# ciphertext) from 64 source addresses x 16 ports each, using the
# junk_flood example. For each flood rate (none, 20k/s, 100k/s, and as
# fast as one core sends) it measures:
#
#   junk CPU   B's daemon CPU (utime+stime from /proc/PID/stat) over 5 s of
#              flood with no other traffic, as a share of one core
#   TCP        iperf3 single stream A->C (2 hops, through B) under the flood;
#              the ratio is against the mean of the no-flood runs just
#              before and after it, same implementation, same run. This
#              stream saturates the chain, so it competes with the flooder
#              for CPU on a small machine whatever B does.
#   paced      iperf3 A->C at a fixed rate (iperf3 -b, PACE Mbit/s, well
#              below the chain's no-flood rate) under the same flood: the
#              share of that target delivered, which is what "the flood
#              does not hurt the traffic" means when the CPU is not the
#              limit
#   links      whether B kept both links with the same link ids throughout
#   refused    msg1s B refused during the level (ours: `show transports`)
#   XDP drops  msg1s B's XDP program dropped during the level (ours with
#              enforcement: `show firewall`, reason msg1-over-budget)
#
# with our daemon, its eBPF enforcement on B's interface towards X (so
# XDP's msg1 gate is in the flood's path, as in a sidecar), and, when
# FIPS_REF_BIN is set (e.g. a reference v0.4.1 build you made yourself;
# nothing here builds it), with that binary on the same namespaces in the
# same run. OURS_UNFILTERED=1 also measures ours without enforcement.
#
# Each implementation runs in the CPU layouts of PINS: 0, everything shares
# every core (the flooder takes CPU from the chain); 1, the flooder pinned
# to CPU 0 and the chain (three daemons and iperf3) to CPU 1 (taskset), so
# the flood reaches B only as datagrams. CHAIN_NICE (e.g. -5) runs the
# chain's daemons and iperf3 at that nice level, for a machine shared with
# other jobs.
#
# Usage: sudo testing/bench/junk-bench.sh [--record]
#   FIPS_BIN (default target/release/fips), FIPSCTL_BIN (target/release/fipsctl),
#   JUNK_BIN (target/release/examples/junk_flood), FIPS_REF_BIN, DURATION (10 s),
#   RATES (default "20000 100000 0"; 0 = as fast as one core sends),
#   REPEAT (rounds over all rates, default 3; the table shows medians),
#   OURS_UNFILTERED (1: also ours without enforcement),
#   PACE (paced stream's rate, Mbit/s, default 300), PINS (default "0 1"),
#   CHAIN_NICE (nice level of the chain, default none),
#   NS_PREFIX (namespace and veth name prefix, default junk; at most 7 characters).
# Build first: cargo xtask build-ebpf &&
#   FIPS_REQUIRE_EBPF=1 cargo build --release -p fips --bins --example junk_flood
# --record appends the table to docs/benchmarks.md with this command line.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
FIPS_BIN="${FIPS_BIN:-$ROOT/target/release/fips}"
FIPSCTL_BIN="${FIPSCTL_BIN:-$ROOT/target/release/fipsctl}"
JUNK_BIN="${JUNK_BIN:-$ROOT/target/release/examples/junk_flood}"
DURATION="${DURATION:-10}"
RATES="${RATES:-20000 100000 0}"
REPEAT="${REPEAT:-3}"
PACE="${PACE:-300}"
PINS="${PINS:-0 1}"
CHAIN_NICE="${CHAIN_NICE:-}"
CPU_WINDOW=5
# Prefixes of the chain's processes and of the flooder (set per layout).
CHAIN_WRAP=(); FLOOD_WRAP=()
RECORD=0; [ "${1:-}" = "--record" ] && RECORD=1
P="${NS_PREFIX:-junk}"  # namespaces and veths: $P-a, $P-ab-a, ...
NS=("$P-a" "$P-b" "$P-c" "$P-x")
RUN="$(mktemp -d /tmp/fips-junk-bench.XXXXXX)"
# Test keys (testdata/identity.json): NSEC, NPUB, FD.
# shellcheck source=../lib/keys.sh
source "$ROOT/testing/lib/keys.sh"
SOURCES=$(seq -s, -f '10.203.0.%g' 10 73)
PIDS=()

need() { # binary package
    command -v "$1" >/dev/null && return
    echo "junk-bench: installing Debian package $2"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.3
    for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null || true; done
    rm -rf "$RUN"
}
trap cleanup EXIT

topology() {
    for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null || true; ip netns add "$n"; ip -n "$n" link set lo up; done
    ip link add "$P-ab-a" netns "$P-a" type veth peer name "$P-ab-b" netns "$P-b"
    ip link add "$P-bc-b" netns "$P-b" type veth peer name "$P-bc-c" netns "$P-c"
    ip link add "$P-xb-x" netns "$P-x" type veth peer name "$P-xb-b" netns "$P-b"
    ip -n "$P-a" addr add 10.203.1.1/30 dev "$P-ab-a"; ip -n "$P-b" addr add 10.203.1.2/30 dev "$P-ab-b"
    ip -n "$P-b" addr add 10.203.1.5/30 dev "$P-bc-b"; ip -n "$P-c" addr add 10.203.1.6/30 dev "$P-bc-c"
    ip -n "$P-b" addr add 10.203.0.1/24 dev "$P-xb-b"
    for s in ${SOURCES//,/ }; do ip -n "$P-x" addr add "$s/24" dev "$P-xb-x"; done
    for l in "a ab-a" "b ab-b" "b bc-b" "c bc-c" "x xb-x" "b xb-b"; do
        set -- $l; ip -n "$P-$1" link set "$P-$2" up
    done
}

# fips_config: testing/bench/lib.sh
source "$ROOT/testing/bench/lib.sh"

start_fips() { # binary [enforce]
    fips_config a 10.203.1.2; fips_config b ""; fips_config c 10.203.1.5
    if [ "${2:-}" = enforce ]; then
        printf 'enforce:\n  enabled: true\n  interface: %s\n' "$P-xb-b" >> "$RUN/b/fips.yaml"
    fi
    B_PID=
    for n in b a c; do
        (cd "$RUN/$n" && RUST_LOG=warn exec ip netns exec "$P-$n" "${CHAIN_WRAP[@]}" "$1" -c "$RUN/$n/fips.yaml") \
            >"$RUN/$n.log" 2>&1 &
        PIDS+=($!); [ "$n" = b ] && B_PID=$!
    done
    chain_wait_up "junk-bench ($1)"
}

stop_all() { chain_stop_all; }

# Sets CHAIN_WRAP, FLOOD_WRAP and LAYOUT (the label's suffix) for a layout.
layout() { # 0 = shared cores, 1 = flooder on CPU 0, chain on CPU 1
    CHAIN_WRAP=(); FLOOD_WRAP=(); LAYOUT=""
    if [ "$1" = 1 ]; then
        CHAIN_WRAP=(taskset -c 1); FLOOD_WRAP=(taskset -c 0); LAYOUT=", pinned"
    fi
    if [ -n "$CHAIN_NICE" ]; then CHAIN_WRAP+=(nice -n "$CHAIN_NICE"); fi
}

ctl() { # args... (B's control socket)
    "$FIPSCTL_BIN" -s "$RUN/b/control.sock" --json "$@" 2>/dev/null
}

# B's links as "id,id" (sorted), or "?" when its control socket does not answer.
links_of_b() {
    ctl show links | python3 -c '
import json,sys
d=json.load(sys.stdin); print(",".join(sorted(str(l.get("link_id")) for l in d.get("links",[]))))' 2>/dev/null || echo "?"
}

# msg1s B's XDP program dropped so far, or "-" without enforcement.
xdp_dropped_by_b() {
    ctl show firewall | python3 -c '
import json,sys
c=json.load(sys.stdin)["counters"]
print(sum(x["packets"] for x in c if x["direction"]=="xdp" and x["reason"]=="msg1-over-budget"))' 2>/dev/null || echo "-"
}

# msg1s B refused so far, or "-" when it does not report them.
refused_by_b() {
    ctl show transports | python3 -c '
import json,sys
print(json.load(sys.stdin)["msg1_admission"]["refused"])' 2>/dev/null || echo "-"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

iperf_once() { # from_ns server_ns addr [iperf3 client args] -> Mbit/s, or nothing
    local from="$1" server="$2" addr="$3"; shift 3
    ip netns exec "$server" "${CHAIN_WRAP[@]}" iperf3 -s -1 -D -p 5201 >/dev/null 2>&1; sleep 0.5
    ip netns exec "$from" "${CHAIN_WRAP[@]}" iperf3 -c "$addr" -p 5201 -t "$DURATION" -J "$@" 2>/dev/null \
        | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6))' \
        2>/dev/null || true
}

# iperf3 A->C; one retry when the run fails (a busy machine can time out
# the control connection); 0 when both fail.
iperf() { # from_ns server_ns addr [iperf3 client args] -> Mbit/s
    local r; r=$(iperf_once "$@")
    [ -z "$r" ] && { sleep 1; r=$(iperf_once "$@"); }
    echo "${r:-0}"
}

# One flood level: prints "rate_label|sent_per_s|flooder_cpu|junk_cpu_pct|tcp|links_ok|refused|xdp_dropped|paced".
level() { # rate (-1 = no flood)
    local rate="$1" hz; hz=$(getconf CLK_TCK)
    local links0 ref0 xdp0 t0 t1 tcp paced links1 ref1 xdp1 flood=
    links0=$(links_of_b); ref0=$(refused_by_b); xdp0=$(xdp_dropped_by_b)
    if [ "$rate" -ge 0 ]; then
        ip netns exec "$P-x" "${FLOOD_WRAP[@]}" "$JUNK_BIN" --target 10.203.0.1:2121 --rate "$rate" \
            --seconds $((CPU_WINDOW + 2 * DURATION + 6)) --sources "$SOURCES" --ports 16 \
            >"$RUN/flood.out" 2>&1 &
        flood=$!
        sleep 1
    fi
    t0=$(cpu_ticks "$B_PID"); [ -n "$flood" ] && sleep "$CPU_WINDOW"; t1=$(cpu_ticks "$B_PID")
    tcp=$(iperf "$P-a" "$P-c" "${FD[c]}")
    paced=$(iperf "$P-a" "$P-c" "${FD[c]}" -b "${PACE}M")
    links1=$(links_of_b); ref1=$(refused_by_b); xdp1=$(xdp_dropped_by_b)
    local sent="-" fcpu="-"
    if [ -n "$flood" ]; then
        wait "$flood" || true
        sent=$(sed -n 's/.* = \([0-9]*\)\/s .*/\1/p' "$RUN/flood.out")
        fcpu=$(sed -n 's/.*(\([0-9]*\)% of a core).*/\1/p' "$RUN/flood.out")
    fi
    local label=none; [ "$rate" = 0 ] && label="max"; [ "$rate" -gt 0 ] && label="$rate/s"
    local held=yes; { [ "$links0" != "$links1" ] || [ "$links0" = "?" ]; } && held="no ($links0 -> $links1)"
    [ "$links0" = "?" ] && held="? (no control socket)"
    local refused="-"; [ "$ref0" != "-" ] && [ "$ref1" != "-" ] && refused=$((ref1 - ref0))
    local xdp="-"; [ "$xdp0" != "-" ] && [ "$xdp1" != "-" ] && xdp=$((xdp1 - xdp0))
    local cpu=0; [ -n "$flood" ] && cpu=$(echo "100 * ($t1 - $t0) / $hz / $CPU_WINDOW" | bc -l)
    printf '%s|%s|%s|%.1f|%s|%s|%s|%s|%s\n' "$label" "${sent:--}" "${fcpu:--}" "$cpu" "$tcp" "$held" "$refused" "$xdp" "$paced"
}

# Every flood level runs between two no-flood runs; its ratio is against
# their mean, so a machine whose load drifts (it is shared) skews it less.
# REPEAT rounds of all levels; the table shows medians per level.
measure() { # label binary [enforce]
    start_fips "$2" "${3:-}"
    sleep 2
    local before after r round
    before=$(level -1); raw "$1" "$before" 0
    for round in $(seq 1 "$REPEAT"); do
        for rate in $RATES; do
            r=$(level "$rate"); after=$(level -1)
            raw "$1" "$r" "$(pair_mean "$before" "$after")"
            raw "$1" "$after" 0
            before=$after
        done
    done
    stop_all
}

pair_mean() { echo "($(cut -d'|' -f5 <<< "$1") + $(cut -d'|' -f5 <<< "$2")) / 2" | bc -l; }

raw() { # label row base (0 for a no-flood row)
    echo "$1|$2|$3" >> "$RUN/raw"
}

# Medians per implementation and level, as table rows.
summarise() {
    python3 - "$RUN/raw" "$PACE" <<'PY'
import statistics as st, sys
rows = [l.rstrip("\n").split("|") for l in open(sys.argv[1]) if l.strip()]
order, groups = [], {}
pace = float(sys.argv[2])
for impl, label, sent, fcpu, cpu, tcp, held, refused, xdp, paced, base in rows:
    key = (impl, label)
    if key not in groups: order.append(key); groups[key] = []
    groups[key].append((sent, fcpu, cpu, tcp, held, refused, base, xdp, paced))
def med(xs):
    xs = [float(x) for x in xs if x not in ("-", "")]
    return st.median(xs) if xs else None
def fmt(x, d=0):
    return "-" if x is None else f"{x:.{d}f}"
for impl, label in order:
    g = groups[(impl, label)]
    ratios = [float(r[3]) / float(r[6]) for r in g if float(r[6]) > 0]
    paced = med(r[8] for r in g)
    held = "yes" if all(r[4] == "yes" for r in g) else "; ".join(sorted({r[4] for r in g if r[4] != "yes"}))
    print(f"| {impl} | {label} | {len(g)} | {fmt(med(r[0] for r in g))} | {fmt(med(r[1] for r in g))} | "
          f"{fmt(med(r[2] for r in g), 1)} | {fmt(med(r[3] for r in g))} | "
          f"{fmt(st.median(ratios), 2) if ratios else '-'} | {fmt(paced)} | "
          f"{fmt(None if paced is None else paced / pace, 2)} | {held} | {fmt(med(r[5] for r in g))} | "
          f"{fmt(med(r[7] for r in g))} |")
PY
}

main() {
    need iperf3 iperf3; need dig dnsutils; need bc bc
    for b in "$FIPS_BIN" "$FIPSCTL_BIN" "$JUNK_BIN"; do
        [ -x "$b" ] || { echo "junk-bench: $b missing: cargo build --release -p fips --bins --example junk_flood" >&2; exit 1; }
    done
    if [ -n "${FIPS_REF_BIN:-}" ] && [ ! -x "$FIPS_REF_BIN" ]; then
        echo "junk-bench: FIPS_REF_BIN=$FIPS_REF_BIN is not an executable; unset it or build that binary" >&2; exit 1
    fi
    LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
    topology
    : > "$RUN/raw"
    local pin
    for pin in $PINS; do
        layout "$pin"
        measure "fips (ours, XDP gate)$LAYOUT" "$FIPS_BIN" enforce
        if [ "${OURS_UNFILTERED:-0}" = 1 ]; then measure "fips (ours, no enforcement)$LAYOUT" "$FIPS_BIN"; fi
        if [ -n "${FIPS_REF_BIN:-}" ]; then measure "reference ($(basename "$FIPS_REF_BIN"))$LAYOUT" "$FIPS_REF_BIN"; fi
    done
    {
        echo "| implementation | flood | runs | sent/s | flooder CPU % | B CPU % on junk alone | TCP 2 hops Mbit/s | x no flood | paced TCP Mbit/s (target $PACE) | x target | B's links held | msg1 refused by B per run | msg1 dropped by B's XDP per run |"
        echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        summarise
        echo
        echo "Flood from 64 addresses x 16 ports into B's FIPS port (ours with enforcement: through its XDP msg1 gate); B's CPU over ${CPU_WINDOW} s of flood with no other traffic; iperf3 ${DURATION} s single stream A->C under the flood, saturating, then paced at $PACE Mbit/s ('x target': delivered over $PACE); medians over the runs; 'x no flood' is the median of each run's saturating TCP rate over the mean of the no-flood runs just before and after it. $(nproc) cores; 'pinned': flooder on CPU 0, chain (3 daemons, iperf3) on CPU 1, else all share them${CHAIN_NICE:+; chain at nice $CHAIN_NICE}; load average at the start $LOAD_START, at the end $(cut -d' ' -f1-3 /proc/loadavg), kernel $(uname -r), $(date -u +%F)."
    } | tee "$RUN/table.md"
    if [ "$RECORD" = 1 ]; then
        { echo; echo "### Junk handshake flood, $(date -u '+%F %H:%M UTC')"; echo;
          echo "Command: \`sudo ${OURS_UNFILTERED:+OURS_UNFILTERED=$OURS_UNFILTERED }${CHAIN_NICE:+CHAIN_NICE=$CHAIN_NICE }PINS=\"$PINS\" PACE=$PACE REPEAT=$REPEAT ${FIPS_REF_BIN:+FIPS_REF_BIN=... }testing/bench/junk-bench.sh --record\`"; echo;
          cat "$RUN/table.md"; } >> "$ROOT/docs/benchmarks.md"
    fi
}
main
