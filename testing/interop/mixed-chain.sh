#!/usr/bin/env bash
# Interop test: a 3-node FIPS chain A - B - C in network namespaces, where
# each node may run a different FIPS implementation (ours, or another one you
# built yourself, e.g. the reference v0.4.1; this script builds nothing and
# fetches nothing).
#
#   ns fi-a                 ns fi-b                          ns fi-c
#   fi-ab-a 10.200.0.1/30 <-> fi-ab-b 10.200.0.2/30
#                             fi-bc-b 10.200.0.5/30 <-> fi-bc-c 10.200.0.6/30
#
# A and C have no IP route to each other, so A<->C traffic must be relayed by
# B at the FIPS layer. A and C dial B; B dials nobody. Keys are a, b, c of
# testdata/identity.json; A has the smallest node address, so A is the root.
# The addresses are those the Python model probe (probe_link.py) expects, so
# it can join as a fourth node D in ns A (port 2122) and peer with B.
#
# Usage:  sudo testing/interop/mixed-chain.sh [run|up|down]
#   run   (default) start the chain, check it, ping A<->C for DURATION seconds
#         while sampling links and sessions, scan logs, print a summary, tear down.
#   up    start the chain and check the links, then leave it running.
#   down  stop what `up` (or a KEEP=1 run) left behind in RUNDIR.
#
# Environment:
#   FIPS_BIN             fips binary for every node [target/release/fips of this repo]
#   FIPS_BIN_A/_B/_C     per-node override, e.g. FIPS_BIN_B="$FIPS_REF_BIN"
#   FIPS_REF_BIN         a fips binary of another implementation (e.g. reference
#                        v0.4.1 that you built); used for the nodes named in REF_NODES
#   REF_NODES            nodes that run FIPS_REF_BIN, e.g. "b c"  [none]
#   FIPSCTL_A/_B/_C      fipsctl per node [ours, next to FIPS_BIN, for every node:
#                        it reads the reference daemon's replies too, so the
#                        reference's fipsctl is not needed]
#   DURATION             seconds of pinging/sampling in `run` [60]
#   SAMPLE               seconds between control-socket samples [5]
#   LOSS_MAX_PCT         max ping loss per direction, percent [2]
#   WAIT                 seconds to wait for links / tree [40]
#   CAPTURE=1            tcpdump both links inside ns B into RUNDIR/cap-{ab,bc}.pcap
#   KEEP=1               leave the chain running after `run` (then `down`)
#   SKIP_CA=1            no C->A quick ping, so C opens no session to A (with
#                        `up`: shows whether A can reach C on its own)
#   RUNDIR               configs, logs, samples [/tmp/fips-interop]
#   PREFIX               namespace and interface prefix [fi]
#   PORT                 UDP port of every node [2121]
#   LOGLEVEL             RUST_LOG of the daemons [info plus rekey/session debug]
#
# Exit status: 0 when every check passed, 1 otherwise. Needs root.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/testing/interop"
MODE="${1:-run}"
RUNDIR="${RUNDIR:-/tmp/fips-interop}"
PREFIX="${PREFIX:-fi}"
PORT="${PORT:-2121}"
DURATION="${DURATION:-60}"
SAMPLE="${SAMPLE:-5}"
LOSS_MAX_PCT="${LOSS_MAX_PCT:-2}"
WAIT="${WAIT:-40}"
LOGLEVEL="${LOGLEVEL:-info,fips::node::handlers::rekey=debug,fips::node::handlers::session=debug}"
OUR_BIN="$(readlink -f "${FIPS_BIN:-$ROOT/target/release/fips}")"
NODES=(a b c)

# Test keys only (testdata/identity.json): NSEC, NPUB, NADDR, FD; fips_yaml.
# shellcheck source=../lib/config.sh
source "$ROOT/testing/lib/config.sh"
# shellcheck source=../lib/chain.sh
source "$ROOT/testing/lib/chain.sh"
# shellcheck source=../lib/netns.sh
source "$ROOT/testing/lib/netns.sh"
declare -A IP4=([a]=10.200.0.1 [b]=10.200.0.2 [c]=10.200.0.6)
declare -A NEIGH=([a]="b" [b]="a c" [c]="b")
declare -A DEPTH=([a]=0 [b]=1 [c]=2)
declare -A BIN CTL JSONFLAG
FAILS=()
NOTES=()

ns() { echo "$PREFIX-$1"; }
say() { echo "[$(date +%T)] $*"; }
fail() { FAILS+=("$*"); say "FAIL $*"; }
pass() { say "ok   $*"; }

need() { # command debian-package
    command -v "$1" >/dev/null && return 0
    say "installing Debian package $2"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

# ---------------------------------------------------------------- teardown --
teardown() {
    local pf pid
    for pf in "$RUNDIR"/*.pid "$RUNDIR"/*/fips.pid; do
        [[ -f "$pf" ]] || continue
        pid="$(cat "$pf")"
        # Only kill a process we started: its command line names RUNDIR.
        if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "$RUNDIR"; then
            kill -TERM "$pid" 2>/dev/null
            for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null
        fi
        rm -f "$pf"
    done
    # The namespaces this RUNDIR created (whatever PREFIX it had), else ours.
    local list=()
    [[ -f "$RUNDIR/netns.list" ]] && mapfile -t list < "$RUNDIR/netns.list"
    (( ${#list[@]} )) || for n in "${NODES[@]}"; do list+=("$(ns "$n")"); done
    for n in "${list[@]}"; do ip netns del "$n" 2>/dev/null; done
    rm -f "$RUNDIR/netns.list"
    return 0
}

# ---------------------------------------------------------------- topology --
topology() {
    local n
    for n in "${NODES[@]}"; do new_ns "$(ns "$n")"; done
    chain_veths "$PREFIX" 200 "$(ns a)" "$(ns b)" "$(ns c)"
}

# ------------------------------------------------------------------ config --
# The same YAML layout for every implementation (the reference's layout).
write_config() { # node
    local n="$1" via
    if [[ "$n" == b ]]; then fips_yaml "$RUNDIR/$n" mixed-chain.sh "$n" ::1 "$PORT"; return; fi
    [[ "$n" == a ]] && via=10.200.0.2 || via=10.200.0.5
    fips_yaml "$RUNDIR/$n" mixed-chain.sh "$n" ::1 "$PORT" "b@$via"
}

choose_binaries() {
    local n var ref_nodes=" ${REF_NODES:-} "
    for n in "${NODES[@]}"; do
        var="FIPS_BIN_${n^^}"
        if [[ -n "${!var:-}" ]]; then BIN[$n]="${!var}"
        elif [[ "$ref_nodes" == *" $n "* ]]; then BIN[$n]="${FIPS_REF_BIN:?REF_NODES needs FIPS_REF_BIN}"
        else BIN[$n]="$OUR_BIN"; fi
        BIN[$n]="$(readlink -f "${BIN[$n]}")"
        [[ -x "${BIN[$n]}" ]] || { echo "node $n: not executable: ${BIN[$n]}" >&2; exit 1; }
        var="FIPSCTL_${n^^}"
        CTL[$n]="${!var:-$(dirname "$OUR_BIN")/fipsctl}"
        [[ -x "${CTL[$n]}" ]] || { echo "node $n: no fipsctl at ${CTL[$n]}" >&2; exit 1; }
    done
}

is_ours() { [[ "${BIN[$1]}" == "$OUR_BIN" ]]; }
impl() { if is_ours "$1"; then echo ours; else echo other; fi; }

start_node() { # node
    local n="$1" d="$RUNDIR/$1"
    rm -f "$d/control.sock"
    (cd "$d" && RUST_LOG="$LOGLEVEL" exec ip netns exec "$(ns "$n")" "${BIN[$n]}" -c "$d/fips.yaml") \
        > "$d/fips.log" 2>&1 &
    echo $! > "$d/fips.pid"
}

write_env() {
    {
        echo "# source me: the chain started by mixed-chain.sh"
        echo "RUNDIR=$RUNDIR"
        for n in "${NODES[@]}"; do
            local N=${n^^}
            echo "NS_$N=$(ns "$n")"; echo "BIN_$N=${BIN[$n]}"; echo "CTL_$N=${CTL[$n]}"
            echo "SOCK_$N=$RUNDIR/$n/control.sock"; echo "NPUB_$N=${NPUB[$n]}"
            echo "FD_$N=${FD[$n]}"; echo "UDP_$N=${IP4[$n]}:$PORT"; echo "NSEC_$N=${NSEC[$n]}"
        done
    } > "$RUNDIR/env.sh"
}

# --------------------------------------------------------- control socket --
# `fipsctl -s SOCK show X --json` (ours); the reference prints JSON without
# a flag and rejects --json, so the flag is probed once per node.
show() { # node what
    local n="$1" sock="$RUNDIR/$1/control.sock"
    if [[ -z "${JSONFLAG[$n]+x}" ]]; then
        if "${CTL[$n]}" -s "$sock" show "$2" --json >/dev/null 2>&1; then JSONFLAG[$n]="--json"
        elif "${CTL[$n]}" -s "$sock" show "$2" >/dev/null 2>&1; then JSONFLAG[$n]=""
        else return 1; fi
    fi
    # shellcheck disable=SC2086
    timeout 10 "${CTL[$n]}" -s "$sock" show "$2" ${JSONFLAG[$n]}
}

alive() { kill -0 "$(cat "$RUNDIR/$1/fips.pid")" 2>/dev/null; }

# Peers of node n that are connected, as npubs.
connected_peers() {
    show "$1" peers 2>/dev/null | jq -r '.peers[]? | select(.connectivity == "connected") | .npub' 2>/dev/null
}

links_ok() { # node: every expected neighbour connected
    local n="$1" got m
    got="$(connected_peers "$n")" || return 1
    for m in ${NEIGH[$n]}; do grep -qx "${NPUB[$m]}" <<<"$got" || return 1; done
}

wait_links() {
    local n deadline=$((SECONDS + WAIT)) pending
    while :; do
        pending=""
        for n in "${NODES[@]}"; do links_ok "$n" || pending+=" $n"; done
        [[ -z "$pending" ]] && { pass "links: every node sees its neighbours connected ($((SECONDS - T0)) s)"; return 0; }
        (( SECONDS >= deadline )) && { fail "links: not connected after ${WAIT}s on:$pending"; return 1; }
        sleep 1
    done
}

check_links_json() { # show links: one connected link per neighbour
    local n count
    for n in "${NODES[@]}"; do
        count="$(show "$n" links 2>/dev/null | jq '[.links[]? | select(.state == "connected")] | length' 2>/dev/null)"
        local want; want=$(wc -w <<<"${NEIGH[$n]}")
        if [[ "$count" == "$want" ]]; then pass "show links $n: $count connected"
        else fail "show links $n: ${count:-no answer} connected links, want $want"; fi
    done
}

tree_ok() { # node -> prints a reason when wrong
    local n="$1" t root depth
    t="$(show "$n" tree 2>/dev/null)" || { echo "no answer"; return 1; }
    root="$(jq -r '.root // empty' <<<"$t")"
    depth="$(jq -r '.depth // empty' <<<"$t")"
    [[ "$root" == "${NADDR[a]}" ]] || { echo "root=$root"; return 1; }
    [[ "$depth" == "${DEPTH[$n]}" ]] || { echo "depth=$depth"; return 1; }
}

wait_tree() {
    local n why deadline=$((SECONDS + WAIT))
    while :; do
        why=""
        for n in "${NODES[@]}"; do
            local r; r="$(tree_ok "$n")" || why+=" $n($r)"
        done
        [[ -z "$why" ]] && { pass "tree: root ${NADDR[a]:0:8} (A), depths 0/1/2 ($((SECONDS - T0)) s)"; return 0; }
        (( SECONDS >= deadline )) && { fail "tree: not converged after ${WAIT}s:$why"; return 1; }
        sleep 1
    done
}

# ------------------------------------------------------- names and pings --
# A reference node only sends to an fd address whose npub it has seen (DNS
# answer, XK msg3 or config): resolve the far node first, like a user would.
learn_name() { # from to
    local got
    got="$(ip netns exec "$(ns "$1")" dig +short +time=2 +tries=2 AAAA "${NPUB[$2]}.fips" @::1 -p 5354 2>&1)"
    if [[ "$got" == "${FD[$2]}" ]]; then pass "dns: ${1^^} resolves ${2^^}'s npub to ${FD[$2]}"
    else fail "dns: ${1^^} asked for ${2^^}'s npub, got '${got//$'\n'/ }'"; fi
}

ping_count() { # file -> "sent received"
    sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1 \2/p' "$1"
}

quick_ping() { # from to count
    local f="$RUNDIR/ping-$1-$2-quick.txt" sent got
    ip netns exec "$(ns "$1")" ping -6 -n -c "$3" -i 0.5 -W 2 "${FD[$2]}" > "$f" 2>&1
    read -r sent got < <(ping_count "$f")
    # The first echo may be spent on discovery and the session handshake.
    if (( ${got:-0} >= $3 - 1 )); then pass "ping ${1^^}->${2^^}: $got/$sent"
    else fail "ping ${1^^}->${2^^}: ${got:-0}/${sent:-0} (see $f)"; fi
}

route_via_tun() { # node: fd00::/8 goes to fips0
    local dev
    dev="$(ip -n "$(ns "$1")" -6 route get "${FD[c]}" 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p')"
    [[ "$1" == c ]] && dev="$(ip -n "$(ns c)" -6 route get "${FD[a]}" 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p')"
    if [[ "$dev" == fips0 ]]; then pass "route: ${1^^} sends fd00::/8 to fips0"
    else fail "route: ${1^^} routes the far fd address via '${dev:-nothing}', want fips0"; fi
}

# ----------------------------------------------------------------- soak --
sample_once() { # elapsed-seconds
    local t="$1" n
    for n in "${NODES[@]}"; do
        if ! alive "$n"; then echo -e "$t\t$n\tdead" >> "$RUNDIR/samples.tsv"; continue; fi
        show "$n" peers 2>/dev/null | jq -r --arg t "$t" --arg n "$n" '
            def f(k): if (.[k] == null) then "-" else (.[k] | tostring) end;
            .peers[]? | [$t, $n, "peer", .npub, f("connectivity"), f("our_session_index"),
                         f("current_k_bit"), f("authenticated_at_ms")] | @tsv' \
            >> "$RUNDIR/samples.tsv" 2>/dev/null \
            || echo -e "$t\t$n\tno-answer\tpeers" >> "$RUNDIR/samples.tsv"
        show "$n" sessions 2>/dev/null | jq -r --arg t "$t" --arg n "$n" '
            def f(k): if (.[k] == null) then "-" else (.[k] | tostring) end;
            .sessions[]? | [$t, $n, "session", .npub, f("state"), "-",
                            f("current_k_bit"), f("session_start_ms")] | @tsv' \
            >> "$RUNDIR/samples.tsv" 2>/dev/null \
            || echo -e "$t\t$n\tno-answer\tsessions" >> "$RUNDIR/samples.tsv"
    done
}

soak() {
    local start=$SECONDS p1 p2 sent got pct dir
    say "pinging A<->C for ${DURATION}s, sampling every ${SAMPLE}s"
    : > "$RUNDIR/samples.tsv"
    ip netns exec "$(ns a)" ping -6 -n -D -i 1 -w "$DURATION" "${FD[c]}" > "$RUNDIR/ping-a-c.txt" 2>&1 & p1=$!
    ip netns exec "$(ns c)" ping -6 -n -D -i 1 -w "$DURATION" "${FD[a]}" > "$RUNDIR/ping-c-a.txt" 2>&1 & p2=$!
    while (( SECONDS - start < DURATION )); do
        sample_once $((SECONDS - start))
        sleep "$SAMPLE"
    done
    wait "$p1" "$p2"
    sample_once $((SECONDS - start))
    for dir in a-c c-a; do
        read -r sent got < <(ping_count "$RUNDIR/ping-$dir.txt")
        sent=${sent:-0}; got=${got:-0}
        pct=$(( sent > 0 ? (100 * (sent - got) + sent - 1) / sent : 100 ))
        if (( sent > 0 && pct <= LOSS_MAX_PCT )); then pass "soak ping ${dir^^}: $got/$sent"
        else fail "soak ping ${dir^^}: $got/$sent (loss ${pct}% > ${LOSS_MAX_PCT}%)"; fi
        NOTES+=("ping ${dir^^} $got/$sent")
    done
    python3 "$HERE/soak_report.py" "$RUNDIR/samples.tsv" "$RUNDIR/soak-report.txt" \
        "a=${NPUB[a]}" "b=${NPUB[b]}" "c=${NPUB[c]}"
    local rc=$?
    sed 's/^/     /' "$RUNDIR/soak-report.txt"
    if (( rc == 0 )); then pass "soak: links and sessions continuous"
    else fail "soak: discontinuity (see $RUNDIR/soak-report.txt)"; fi
    NOTES+=("$(grep '^rekeys' "$RUNDIR/soak-report.txt" | tr '\n' ' ')")
}

# ------------------------------------------------------------- log scan --
# WARN/ERROR lines of the other implementation's logs that name one of our
# nodes (npub, its short form, node address or its prefix, UDP address).
scan_logs() {
    local n m pat total hits
    pat=""
    for m in "${NODES[@]}"; do
        is_ours "$m" || continue
        pat+="|${NPUB[$m]}|${NPUB[$m]:0:9}\\.\\.\\.${NPUB[$m]: -4}|${NADDR[$m]:0:8}|${IP4[$m]//./\\.}:$PORT"
    done
    for n in "${NODES[@]}"; do
        sed 's/\x1b\[[0-9;]*m//g' "$RUNDIR/$n/fips.log" > "$RUNDIR/$n/fips.plain.log"
        total=$(grep -cE ' (WARN|ERROR) ' "$RUNDIR/$n/fips.plain.log")
        if is_ours "$n" || [[ -z "$pat" ]]; then
            NOTES+=("log $n ($(impl "$n")): $total WARN/ERROR lines"); continue
        fi
        grep -E ' (WARN|ERROR) ' "$RUNDIR/$n/fips.plain.log" | grep -E "${pat#|}" > "$RUNDIR/$n/warn-about-ours.log"
        hits=$(wc -l < "$RUNDIR/$n/warn-about-ours.log")
        NOTES+=("log $n ($(impl "$n")): $total WARN/ERROR lines, $hits about our nodes")
        # Lower-level lines that often explain a failure (not fatal by themselves).
        grep -iE '\b(disconnect|removed|dead|timed out|timeout|restart|failed|rejected|invalid|unknown|no route)\b' \
            "$RUNDIR/$n/fips.plain.log" | grep -E "${pat#|}" > "$RUNDIR/$n/notable-about-ours.log"
        if [[ -s "$RUNDIR/$n/notable-about-ours.log" ]]; then
            NOTES+=("log $n: $(wc -l < "$RUNDIR/$n/notable-about-ours.log") notable lines about our nodes (see $RUNDIR/$n/notable-about-ours.log)")
        fi
        if (( hits > 0 )); then
            fail "log $n: $hits WARN/ERROR lines about our nodes, first:"
            head -3 "$RUNDIR/$n/warn-about-ours.log" | cut -c1-300 | sed 's/^/     /'
        fi
    done
    local plain=("$RUNDIR"/*/fips.plain.log) answered aborted
    answered=$(cat "${plain[@]}" | grep -cE 'Rekey cutover complete|Sent rekey msg2|FSP rekey cutover complete|FSP rekey: completed XK')
    aborted=$(cat "${plain[@]}" | grep -c 'rekey aborted')
    NOTES+=("rekey lines in the logs: $answered cutovers/answers, $aborted aborted cycles")
}

summary() {
    local n
    echo "---- mixed-chain summary ($(date +%T)) ----"
    for n in "${NODES[@]}"; do
        printf '  %s %-5s %s\n' "${n^^}" "$(impl "$n")" "${BIN[$n]}"
    done
    for n in "${NOTES[@]}"; do echo "  $n"; done
    if (( ${#FAILS[@]} == 0 )); then echo "RESULT: PASS"; return 0; fi
    echo "RESULT: FAIL (${#FAILS[@]})"
    for n in "${FAILS[@]}"; do echo "  - $n"; done
    return 1
}

# ----------------------------------------------------------------- main --
[[ $EUID -eq 0 ]] || { echo "mixed-chain: needs root (netns, TUN)" >&2; exit 1; }
case "$MODE" in
    down) teardown; echo "mixed-chain: stopped, state kept in $RUNDIR"; exit 0 ;;
    run|up) ;;
    *) echo "usage: $0 [run|up|down]" >&2; exit 2 ;;
esac
need jq jq; need dig dnsutils; need ping iputils-ping; need python3 python3
[[ "${CAPTURE:-0}" == 1 ]] && need tcpdump tcpdump
choose_binaries
teardown
rm -rf "$RUNDIR"; mkdir -p "$RUNDIR"
if [[ "$MODE" == run && "${KEEP:-0}" != 1 ]]; then trap teardown EXIT; fi
topology
for n in "${NODES[@]}"; do write_config "$n"; done
write_env
if [[ "${CAPTURE:-0}" == 1 ]]; then
    for l in ab bc; do
        ip netns exec "$(ns b)" tcpdump -i "$PREFIX-$l-b" -U -s 0 -w "$RUNDIR/cap-$l.pcap" udp port "$PORT" \
            > "$RUNDIR/tcpdump-$l.log" 2>&1 &
        echo $! > "$RUNDIR/tcpdump-$l.pid"
    done
    sleep 1
fi
T0=$SECONDS
start_node b; sleep 1; start_node a; start_node c
sleep 1
for n in "${NODES[@]}"; do
    alive "$n" || { fail "node $n ($(impl "$n")) exited at start: $(tail -3 "$RUNDIR/$n/fips.log")"; }
done
if (( ${#FAILS[@]} == 0 )) && wait_links; then
    check_links_json
    wait_tree
    for n in a c; do route_via_tun "$n"; done
    learn_name a c; learn_name c a
    quick_ping a b 3; quick_ping b c 3; quick_ping a c 5; [[ "${SKIP_CA:-0}" == 1 ]] || quick_ping c a 5
    [[ "$MODE" == run ]] && soak
fi
for n in "${NODES[@]}"; do alive "$n" || fail "node $n ($(impl "$n")) is not running at the end"; done
if [[ "$MODE" == up ]]; then
    summary; rc=$?
    echo "chain left running: source $RUNDIR/env.sh; stop with: $0 down"
    exit $rc
fi
scan_logs
summary
