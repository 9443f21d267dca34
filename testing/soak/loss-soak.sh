#!/usr/bin/env bash
# Loss soak (a documented command, not a timed test): the 3-node chain
# A - B - C and the 5-node static mesh of the main job (`cargo xtask mesh`), our daemon
# on every node, with LOSS (5%) of the datagrams arriving at every node's
# FIPS port dropped at random (iptables -m statistic; this kernel has no
# netem), for DURATION seconds. Light traffic only (the CPU is shared):
# a ping a second A<->C (chain) and a<->b (mesh, 3 hops), and a BURST_SECS
# iperf3 burst over each every BURST_EVERY seconds.
#
# Asserts:
#   links never drop    every configured link is connected in every sample
#                       (show peers every SAMPLE s), its authenticated_at
#                       never changes, no "peer down" in the logs, the
#                       dead_peers and peer_restarts counters stay 0;
#   rekeys succeed      each link's session index changes (FMP rekeys,
#                       time-based every ~120 s and every 65,536 frames) at
#                       least MIN_REKEYS times, the FSP rekey counter of the
#                       pinging nodes grows, and the pings keep being answered
#                       (loss within PING_LOSS_MAX %, no gap over PING_GAP_MAX);
#   RSS flat            every daemon's RSS sampled each RSS_EVERY s; flat when
#                       the last is within 10% of the value at BASE_T
#                       (default min(300, DURATION/3) s).
# Then the goodput: iperf3 TCP A->C (2 hops) for GOODPUT_SECS on the same
# chain under the same loss: ours, then GOODPUT_ROUNDS times a fresh chain
# of FIPS_REF_BIN (a reference build you made yourself; nothing here builds
# it) and a fresh chain of ours (each started without loss, the loss added
# once A reaches C; START_LOSSY=1 starts them under loss); medians and their
# ratio. Without
# FIPS_REF_BIN (CI) only ours is measured, and the summary says so.
#
# Usage: sudo testing/soak/loss-soak.sh [soak|goodput]
#   soak (default) everything above; goodput: only the chain and the goodput
#   comparison (about 2 minutes).
#   DURATION [1800]  SAMPLE [10]  RSS_EVERY [60]  LOSS [0.05]
#   BURST_EVERY [300]  BURST_SECS [10]  BURST_FIRST [60, or DURATION/8 when shorter]
#   GOODPUT_SECS [20]  GOODPUT_ROUNDS [2]  PATH_WAIT [120]  START_LOSSY [0]  MIN_REKEYS [DURATION/240]  PING_LOSS_MAX [45]  PING_GAP_MAX [8]
#   FIPS_BIN / FIPSCTL_BIN [target/release]  FIPS_REF_BIN [unset]
#   TOPOLOGIES ["chain mesh"]  RUNDIR [/tmp/soak-loss]  PREFIX [sl]
# Exit status 0 when every check passed. Needs root, iptables, iperf3, dig.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/testing/soak"
# shellcheck source=testing/soak/lib.sh
source "$HERE/lib.sh"

DURATION="${DURATION:-1800}"
SAMPLE="${SAMPLE:-10}"
RSS_EVERY="${RSS_EVERY:-60}"
LOSS="${LOSS:-0.05}"
BURST_EVERY="${BURST_EVERY:-300}"
BURST_SECS="${BURST_SECS:-10}"
BURST_FIRST="${BURST_FIRST:-$(( DURATION >= 480 ? 60 : DURATION / 8 ))}"
GOODPUT_SECS="${GOODPUT_SECS:-20}"
GOODPUT_ROUNDS="${GOODPUT_ROUNDS:-2}"
PATH_WAIT="${PATH_WAIT:-120}"
MIN_REKEYS="${MIN_REKEYS:-$(( DURATION / 240 ))}"
PING_LOSS_MAX="${PING_LOSS_MAX:-45}"
PING_GAP_MAX="${PING_GAP_MAX:-8}"
BASE_T="${BASE_T:-$(( DURATION / 3 < 300 ? DURATION / 3 : 300 ))}"
TOPOLOGIES="${TOPOLOGIES:-chain mesh}"
RUNDIR="${RUNDIR:-/tmp/soak-loss}"
PREFIX="${PREFIX:-sl}"
WAIT="${WAIT:-60}"
export RUST_LOG="${RUST_LOG:-info}"

# Test keys only (testdata/identity.json): NSEC, NPUB, FD, the link lists;
# fips_yaml.
# shellcheck source=../lib/config.sh
source "$ROOT/testing/lib/config.sh"
# shellcheck source=../lib/chain.sh
source "$ROOT/testing/lib/chain.sh"
# Chain (CHAIN_LINKS): A and C dial B. Mesh (MESH_LINKS, the main job's):
# links a-d a-e c-d b-c d-e c-e, the first of each pair dials.
CHAIN_PORT=2121
declare -A CHAIN_DIALS=([a]="b@10.203.0.2" [b]="" [c]="b@10.203.0.5")
MESH_PORT=4000
declare -A MESH_IP MESH_DIALS
for n in a b c d e; do MESH_IP[$n]=${MESH_IPV4[$n]}; MESH_DIALS[$n]="$(dials_of "$n" MESH_LINKS)"; done
declare -A NODES_OF=([chain]="a b c" [mesh]="a b c d e")
declare -A PORT_OF=([chain]=$CHAIN_PORT [mesh]=$MESH_PORT)
# The pinged pair of each topology (its far ends).
declare -A PAIR=([chain]="a c" [mesh]="a b")

nsname() { echo "$PREFIX-${1:0:1}$2"; }   # chain a -> sl-ca, mesh hub -> sl-mhub
dir_of() { echo "$RUNDIR/$1/$2"; }

# ------------------------------------------------------------- topology --
chain_net() {
    local n
    for n in a b c; do new_ns "$(nsname chain $n)"; done
    chain_veths "$PREFIX" 203 "$(nsname chain a)" "$(nsname chain b)" "$(nsname chain c)"
    segment_on_send "$(nsname chain a)" "$PREFIX-ab-a"; segment_on_send "$(nsname chain b)" "$PREFIX-ab-b"
    segment_on_send "$(nsname chain b)" "$PREFIX-bc-b"; segment_on_send "$(nsname chain c)" "$PREFIX-bc-c"
}

mesh_net() {
    local hub n; hub="$(nsname mesh hub)"
    new_ns "$hub"
    ip -n "$hub" link add "$PREFIX-br" type bridge
    ip -n "$hub" link set "$PREFIX-br" up
    for n in ${NODES_OF[mesh]}; do
        new_ns "$(nsname mesh "$n")"
        ip -n "$hub" link add "$PREFIX-v-$n" type veth peer name eth0 netns "$(nsname mesh "$n")"
        ip -n "$hub" link set "$PREFIX-v-$n" master "$PREFIX-br" up
        ip -n "$(nsname mesh "$n")" addr add "${MESH_IP[$n]}/24" dev eth0
        ip -n "$(nsname mesh "$n")" link set eth0 up
        segment_on_send "$(nsname mesh "$n")" eth0; segment_on_send "$hub" "$PREFIX-v-$n"
    done
}

# --------------------------------------------------------------- config --
write_config() { # topo node
    local t="$1" n="$2" p dials=()
    if [[ $t == chain ]]; then
        [[ -n "${CHAIN_DIALS[$n]}" ]] && dials=("${CHAIN_DIALS[$n]}")
    else
        for p in ${MESH_DIALS[$n]}; do dials+=("$p@${MESH_IP[$p]}"); done
    fi
    fips_yaml "$(dir_of "$t" "$n")" "loss-soak.sh $t" "$n" 127.0.0.1 "${PORT_OF[$t]}" "${dials[@]}"
}

# Expected links, "topo/node npub" per line, for soak_check.py links.
expected_links() {
    local l
    for l in "${CHAIN_LINKS[@]}"; do echo "chain/${l% *} ${l#* }"; echo "chain/${l#* } ${l% *}"; done
    for l in "${MESH_LINKS[@]}"; do echo "mesh/${l% *} ${l#* }"; echo "mesh/${l#* } ${l% *}"; done
}

start_topo() { # topo [binary]
    local t="$1" bin="${2:-$FIPS_BIN}" n
    for n in b ${NODES_OF[$t]}; do
        [[ -f "$(dir_of "$t" "$n")/fips.pid" ]] && continue
        start_daemon "$(dir_of "$t" "$n")" "$(nsname "$t" "$n")" "$bin"
        sleep 0.2
    done
}

stop_topo() { local n; for n in ${NODES_OF[$1]}; do stop_daemon "$(dir_of "$1" "$n")"; done; }

# ---------------------------------------------------------------- checks --
declare -A DEGREE=([chain/a]=1 [chain/b]=2 [chain/c]=1 [mesh/a]=2 [mesh/b]=1 [mesh/c]=3 [mesh/d]=3 [mesh/e]=3)

connected_count() { # topo node
    ctl_json "$(dir_of "$1" "$2")" peers | jq '[.peers[]? | select(.connectivity == "connected")] | length' 2>/dev/null
}

wait_links() { # topo
    local t="$1" n deadline=$((SECONDS + WAIT)) pending
    while :; do
        pending=""
        for n in ${NODES_OF[$t]}; do
            [[ "$(connected_count "$t" "$n")" == "${DEGREE[$t/$n]}" ]] || pending+=" $n"
        done
        [[ -z "$pending" ]] && { pass "$t: every link up"; return 0; }
        (( SECONDS >= deadline )) && { fail "$t: links not up after ${WAIT}s on:$pending"; return 1; }
        sleep 1
    done
}

# The far node's identity is learned the way an app would: a .fips AAAA.
wait_path() { # topo from to [secs]
    local t="$1" ns; ns="$(nsname "$t" "$2")"
    local deadline=$((SECONDS + ${4:-WAIT}))
    while (( SECONDS < deadline )); do
        ip netns exec "$ns" dig +short +time=1 +tries=1 @127.0.0.1 -p 5354 AAAA "${NPUB[$3]}.fips" >/dev/null 2>&1
        ip netns exec "$ns" ping -6 -c1 -W1 "${FD[$3]}" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}

# -------------------------------------------------------------- sampling --
names_json() {
    local n out="{"
    for n in a b c d e; do out+="\"${NPUB[$n]}\":\"$n\","; done
    echo "${out%,}}"
}

sample_links() { # t
    local t="$1" topo n d id
    for topo in $TOPOLOGIES; do for n in ${NODES_OF[$topo]}; do
        d="$(dir_of "$topo" "$n")"; id="$topo/$n"
        if ! alive "$d"; then echo -e "$t\t$id\t-\tdead" >> "$RUNDIR/links.tsv"; continue; fi
        ctl_json "$d" peers | jq -r --arg t "$t" --arg id "$id" --argjson names "$NAMES" '
            .peers[]? | [$t, $id, ($names[.npub] // .npub), .connectivity,
                         (.authenticated_at_ms | tostring), .our_session_index] | @tsv' \
            >> "$RUNDIR/links.tsv" 2>/dev/null \
            || echo -e "$t\t$id\t-\tno-answer" >> "$RUNDIR/links.tsv"
        ctl_json "$d" routing | jq -r --arg t "$t" --arg id "$id" '
            [["fmp_rekeys", .node.rekeys], ["fsp_rekeys", .dataplane.rekeys],
             ["dead_peers", .node.dead_peers], ["peer_restarts", .node.peer_restarts],
             ["silent_peers", .node.silent_peers], ["handshake_timeouts", .node.handshake_timeouts],
             ["sessions_established", .dataplane.sessions_established],
             ["dead_sessions", .dataplane.dead_sessions]][]
            | select(.[1] != null) | [$t, ($id + "/" + .[0]), (.[1] | tostring)] | @tsv' \
            >> "$RUNDIR/counters.tsv" 2>/dev/null
    done; done
}

sample_rss() { # t
    local topo n pid
    for topo in $TOPOLOGIES; do for n in ${NODES_OF[$topo]}; do
        pid="$(pid_of "$(dir_of "$topo" "$n")")" || continue
        echo -e "$1\t$topo/$n/rss_kb\t$(rss_kb "$pid")" >> "$RUNDIR/rss.tsv"
    done; done
}

iperf_mbit() { # topo from to secs -> Mbit/s (0 when it failed)
    local sns cns; sns="$(nsname "$1" "$3")"; cns="$(nsname "$1" "$2")"
    ip netns exec "$sns" iperf3 -s -1 -D -p 5201 >/dev/null 2>&1; sleep 0.3
    timeout $(( $4 + 30 )) ip netns exec "$cns" iperf3 -c "${FD[$3]}" -p 5201 -t "$4" -J 2>/dev/null \
        | python3 -c 'import json,sys
try: print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6))
except Exception: print(0)'
}

burst() { # t
    local topo mbit
    for topo in $TOPOLOGIES; do
        # shellcheck disable=SC2086
        mbit="$(iperf_mbit "$topo" ${PAIR[$topo]} "$BURST_SECS")"
        say "burst $topo ${PAIR[$topo]// /->}: $mbit Mbit/s"
        echo -e "$1\t$topo/burst_mbit\t$mbit" >> "$RUNDIR/bursts.tsv"
    done
}

soak() {
    local start=$SECONDS t next_rss=0 next_burst=$BURST_FIRST topo a b
    : > "$RUNDIR/links.tsv"; : > "$RUNDIR/counters.tsv"; : > "$RUNDIR/rss.tsv"; : > "$RUNDIR/bursts.tsv"
    PING_PIDS=()
    for topo in $TOPOLOGIES; do
        read -r a b <<<"${PAIR[$topo]}"
        ip netns exec "$(nsname "$topo" "$a")" ping -6 -n -D -i 1 -w "$DURATION" "${FD[$b]}" \
            > "$RUNDIR/ping-$topo-$a$b.txt" 2>&1 & PING_PIDS+=($!)
        ip netns exec "$(nsname "$topo" "$b")" ping -6 -n -D -i 1 -w "$DURATION" "${FD[$a]}" \
            > "$RUNDIR/ping-$topo-$b$a.txt" 2>&1 & PING_PIDS+=($!)
    done
    say "soak: ${DURATION}s, loss $LOSS on every FIPS port, samples every ${SAMPLE}s, RSS every ${RSS_EVERY}s, bursts of ${BURST_SECS}s every ${BURST_EVERY}s from ${BURST_FIRST}s"
    while (( (t = SECONDS - start) < DURATION )); do
        (( t >= next_rss )) && { sample_rss "$t"; next_rss=$((next_rss + RSS_EVERY)); }
        sample_links "$t"
        if (( t >= next_burst && t + BURST_SECS * 2 + 5 < DURATION )); then
            burst "$t"; next_burst=$((next_burst + BURST_EVERY)); continue
        fi
        sleep "$SAMPLE"
    done
    wait "${PING_PIDS[@]}"
    t=$((SECONDS - start)); sample_links "$t"; sample_rss "$t"
}

verdicts() {
    local f out rc topo n
    out="$(python3 "$HERE/soak_check.py" links "$RUNDIR/links.tsv" "$RUNDIR/expected.txt" "$MIN_REKEYS")"; rc=$?
    indent "$out"; echo "$out" > "$RUNDIR/links-report.txt"
    if (( rc == 0 )); then pass "links: every link held for ${DURATION}s, each rekeyed >= $MIN_REKEYS times"
    else fail "links: see $RUNDIR/links-report.txt"; fi
    for f in "$RUNDIR"/ping-*.txt; do
        out="$(python3 "$HERE/soak_check.py" pings "$f" "$PING_LOSS_MAX" "$PING_GAP_MAX")"; rc=$?
        local name; name="$(basename "$f" .txt)"
        if (( rc == 0 )); then pass "$name: $out"; else fail "$name: $out"; fi
        NOTES+=("$name: $out")
    done
    out="$(python3 "$HERE/soak_check.py" figures "$RUNDIR/counters.tsv" "$BASE_T" \
        '*/dead_peers:max:0' '*/peer_restarts:max:0' '*/handshake_timeouts:max:0' \
        '*/dead_sessions:max:0')"; rc=$?
    echo "$out" > "$RUNDIR/counters-report.txt"
    if (( rc == 0 )); then pass "counters: no dead peer or session, no peer restart, no handshake timeout"
    else fail "counters: $(grep FAIL <<<"$out" | head -3 | tr '\n' ' ')"; fi
    for topo in $TOPOLOGIES; do
        local fmp=0 fsp=0 v
        for n in ${NODES_OF[$topo]}; do
            v="$(awk -F'\t' -v s="$topo/$n/fmp_rekeys" '$2 == s {x = $3} END {print x + 0}' "$RUNDIR/counters.tsv")"; fmp=$((fmp + v))
            v="$(awk -F'\t' -v s="$topo/$n/fsp_rekeys" '$2 == s {x = $3} END {print x + 0}' "$RUNDIR/counters.tsv")"; fsp=$((fsp + v))
        done
        NOTES+=("$topo: rekeys completed (sum over nodes): FMP $fmp, FSP $fsp")
        if (( fmp > 0 )); then pass "$topo: $fmp FMP rekeys completed"; else fail "$topo: no FMP rekey completed"; fi
        if (( fsp > 0 )); then pass "$topo: $fsp FSP rekeys completed"; else fail "$topo: no FSP rekey completed"; fi
    done
    for topo in $TOPOLOGIES; do for n in ${NODES_OF[$topo]}; do
        local downs; downs=$(grep -c "peer down" "$(dir_of "$topo" "$n")/fips.log")
        (( downs == 0 )) || fail "$topo/$n: $downs 'peer down' lines in its log"
        alive "$(dir_of "$topo" "$n")" || fail "$topo/$n: daemon not running at the end"
    done; done
    out="$(python3 "$HERE/soak_check.py" figures "$RUNDIR/rss.tsv" "$BASE_T" '*/rss_kb:0.10:0')"; rc=$?
    indent "$out"; echo "$out" > "$RUNDIR/rss-report.txt"
    if (( rc == 0 )); then pass "RSS flat: last within 10% of the value at ${BASE_T}s on every daemon"
    else fail "RSS grew: see $RUNDIR/rss-report.txt"; fi
    local drops="" arrived dropped
    for topo in $TOPOLOGIES; do for n in ${NODES_OF[$topo]}; do
        read -r arrived dropped < <(loss_counts "$(nsname "$topo" "$n")")
        drops+=" $topo/$n=$dropped/$arrived"; done; done
    NOTES+=("datagrams dropped/arrived at each FIPS port (during the soak):$drops")
    NOTES+=("bursts (Mbit/s): $(awk -F'\t' '{printf "%s@%ss=%s ", $2, $1, $3}' "$RUNDIR/bursts.tsv" | sed 's#/burst_mbit##g')")
}

# ------------------------------------------------------------- goodput --
median() { python3 -c 'import statistics, sys; print(f"{statistics.median(map(float, sys.argv[1:])):g}")' "$@"; }

# A fresh chain of binary, then one iperf3 run A->C (Mbit/s, 0 when the
# chain did not carry A->C within 60 s).
# The chain starts without loss, then the loss rules go back in: this
# measures goodput under loss, not how a node starts on a lossy network
# (the reference, started under loss, often never routes A->C; see
# docs/benchmarks.md). START_LOSSY=1 starts under loss.
fresh_goodput() { # binary
    local t0=$SECONDS n
    stop_topo chain
    if [[ "${START_LOSSY:-0}" != 1 ]]; then
        for n in ${NODES_OF[chain]}; do ip netns exec "$(nsname chain "$n")" iptables -w -F INPUT; done
    fi
    start_topo chain "$1"
    if wait_path chain a c "$PATH_WAIT"; then
        say "$1: A reaches C $((SECONDS - t0)) s after the start" >&2
    else
        say "$1: A does not reach C within ${PATH_WAIT}s (logs: $RUNDIR/chain/*/fips.log)" >&2
        echo 0; return
    fi
    if [[ "${START_LOSSY:-0}" != 1 ]]; then
        for n in ${NODES_OF[chain]}; do add_loss "$(nsname chain "$n")" "$CHAIN_PORT" "$LOSS"; done
    fi
    iperf_mbit chain a c "$GOODPUT_SECS"
}

# Ours, then (reference, ours) GOODPUT_ROUNDS times: medians and their ratio.
goodput() {
    local ours=() ref=() r ref_bin mo mr
    [[ " $TOPOLOGIES " == *" chain "* ]] || return 0
    say "goodput: iperf3 A->C over the chain (2 hops), ${GOODPUT_SECS}s each, loss $LOSS"
    ours+=("$(iperf_mbit chain a c "$GOODPUT_SECS")")
    if [[ -z "${FIPS_REF_BIN:-}" || ! -x "${FIPS_REF_BIN:-}" ]]; then
        NOTES+=("goodput A->C 2 hops at loss $LOSS: ours ${ours[0]} Mbit/s; reference not measured (FIPS_REF_BIN ${FIPS_REF_BIN:+not executable: $FIPS_REF_BIN}${FIPS_REF_BIN:-unset})")
        (( ours[0] > 0 )) || fail "goodput: ours carried no TCP over the lossy chain"
        return 0
    fi
    ref_bin="$(readlink -f "$FIPS_REF_BIN")"
    for ((r = 0; r < GOODPUT_ROUNDS; r++)); do
        ref+=("$(fresh_goodput "$ref_bin")"); say "goodput reference: ${ref[-1]} Mbit/s"
        ours+=("$(fresh_goodput "$FIPS_BIN")"); say "goodput ours: ${ours[-1]} Mbit/s"
    done
    mo="$(median "${ours[@]}")"; mr="$(median "${ref[@]}")"
    NOTES+=("goodput A->C 2 hops at loss $LOSS, ${GOODPUT_SECS}s each: ours ${ours[*]} Mbit/s (median $mo), reference ${ref[*]} Mbit/s (median $mr; $ref_bin); ours/reference $(python3 -c "print(f'{$mo/$mr:.2f}' if $mr else 'n/a')")")
    [[ "$mr" != 0 ]] || fail "goodput: the reference chain carried no TCP"
    [[ "$mo" != 0 ]] || fail "goodput: ours carried no TCP over the lossy chain"
}

# ------------------------------------------------------------- teardown --
teardown() {
    local d
    for d in "$RUNDIR"/*/*/; do [[ -f "$d/fips.pid" ]] && stop_daemon "${d%/}"; done
    del_listed_ns
}

main() {
    local mode="${1:-soak}"
    case "$mode" in
        soak) ;;
        goodput) TOPOLOGIES=chain ;;
        *) echo "usage: $0 [soak|goodput]" >&2; exit 2 ;;
    esac
    [[ $EUID -eq 0 ]] || { echo "loss-soak: needs root (netns, TUN, iptables)" >&2; exit 1; }
    need jq jq; need dig dnsutils; need iperf3 iperf3; need iptables iptables; need ping iputils-ping
    FIPS_BIN="$(pick_bin fips)"; FIPSCTL_BIN="$(pick_bin fipsctl)"; export FIPSCTL_BIN
    NAMES="$(names_json)"
    teardown; rm -rf "$RUNDIR"; mkdir -p "$RUNDIR"; : > "$RUNDIR/netns.list"
    trap teardown EXIT
    local topo n a b
    for topo in $TOPOLOGIES; do
        "${topo}_net"
        for n in ${NODES_OF[$topo]}; do
            write_config "$topo" "$n"
            add_loss "$(nsname "$topo" "$n")" "${PORT_OF[$topo]}" "$LOSS"
        done
        start_topo "$topo"
    done
    expected_links | grep -E "^($(tr ' ' '|' <<<"$TOPOLOGIES"))/" > "$RUNDIR/expected.txt"
    say "loss-soak: $FIPS_BIN, topologies: $TOPOLOGIES, logs and samples in $RUNDIR"
    local ok=1
    for topo in $TOPOLOGIES; do
        wait_links "$topo" || ok=0
        read -r a b <<<"${PAIR[$topo]}"
        if wait_path "$topo" "$a" "$b" && wait_path "$topo" "$b" "$a"; then pass "$topo: $a and $b reach each other"
        else fail "$topo: $a cannot reach $b"; ok=0; fi
    done
    if (( ok )) && [[ $mode == soak ]]; then soak; verdicts; fi
    (( ok )) && goodput
    summary loss-soak
}

main "$@"
