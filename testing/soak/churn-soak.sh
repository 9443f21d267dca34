#!/usr/bin/env bash
# Churn soak (a documented command, not a timed test): a hub and LEAVES (50)
# leaves, our daemon each, every leaf in its own network namespace on a
# bridge in the hub's namespace, dialling the hub. For DURATION seconds,
# every CHURN_EVERY seconds CHURN_N leaves chosen at random are stopped
# (SIGKILL or SIGTERM, at random) and started again, half of them with a
# fresh key (a new identity to the hub), the others with their old one; a
# restarted leaf pings the hub twice, which opens an end-to-end session.
#
# Every SAMPLE seconds the hub's RSS, open file descriptors (/proc/PID/fd)
# and tables (show peers, links, sessions, identity-cache, cache,
# connections) are recorded. Asserts:
#   flat      RSS within 10% of its value at BASE_T (default
#             min(300, DURATION/3) s); fds, peers, links and sessions
#             within 10% (+2 fds, +5 entries) of theirs (sessions only
#             when BASE_T >= 120 s, past their 90 s idle timeout; an
#             earlier base bounds them by the identities shown);
#   bounded   the identity cache and the coordinate cache hold no more
#             than the identities the hub was shown (LEAVES + fresh keys)
#             and never pass their caps (10,000, 50,000): both keep
#             idle entries by design (LRU; 300 s TTL), so they grow with
#             fresh keys until a cap or the TTL, and are reported;
#   settled   SETTLE seconds after the churn stops, the hub has exactly
#             LEAVES peers and links, all connected (no stale entry), and
#             every leaf is running.
#
# Usage: sudo testing/soak/churn-soak.sh
#   DURATION [1800]  LEAVES [50]  CHURN_EVERY [3]  CHURN_N [3]  SAMPLE [10]
#   SETTLE [45]  BASE_T  FIPS_BIN / FIPSCTL_BIN [target/release]
#   RUNDIR [/tmp/soak-churn]  PREFIX [sc]
# Exit status 0 when every check passed. Needs root.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/testing/soak"
# shellcheck source=testing/soak/lib.sh
source "$HERE/lib.sh"

DURATION="${DURATION:-1800}"
LEAVES="${LEAVES:-50}"
CHURN_EVERY="${CHURN_EVERY:-3}"
CHURN_N="${CHURN_N:-3}"
SAMPLE="${SAMPLE:-10}"
SETTLE="${SETTLE:-45}"
BASE_T="${BASE_T:-$(( DURATION / 3 < 300 ? DURATION / 3 : 300 ))}"
RUNDIR="${RUNDIR:-/tmp/soak-churn}"
PREFIX="${PREFIX:-sc}"
PORT=4000
export RUST_LOG="${RUST_LOG:-info}"

# The hub runs test key a (testdata/identity.json).
# shellcheck source=../lib/keys.sh
source "$ROOT/testing/lib/keys.sh"
HUB_NSEC=${NSEC[a]}
HUB_NPUB=${NPUB[a]}
HUB_FD=${FD[a]}
HUB_IP=10.204.0.1
HUB_DIR="$RUNDIR/hub"
RESTARTS=0; KILLS=0; FRESH=0

leaf() { printf 'l%02d' "$1"; }
leaf_ns() { echo "$PREFIX-$(leaf "$1")"; }
leaf_dir() { echo "$RUNDIR/$(leaf "$1")"; }

# ------------------------------------------------------------- topology --
net_up() {
    local hub="$PREFIX-hub" i
    new_ns "$hub"
    ip -n "$hub" link add "$PREFIX-br" type bridge
    ip -n "$hub" addr add "$HUB_IP/24" dev "$PREFIX-br"
    ip -n "$hub" link set "$PREFIX-br" up
    for ((i = 0; i < LEAVES; i++)); do
        new_ns "$(leaf_ns "$i")"
        ip -n "$hub" link add "$PREFIX-v$(leaf "$i")" type veth peer name eth0 netns "$(leaf_ns "$i")"
        ip -n "$hub" link set "$PREFIX-v$(leaf "$i")" master "$PREFIX-br" up
        ip -n "$(leaf_ns "$i")" addr add "10.204.0.$((10 + i))/24" dev eth0
        ip -n "$(leaf_ns "$i")" link set eth0 up
    done
}

# --------------------------------------------------------------- config --
common_yaml() { # dir nsec dns(true|false)
    cat <<YAML
node:
  identity:
    nsec: "$2"
  control:
    enabled: true
    socket_path: "$1/control.sock"
tun:
  enabled: true
  name: fips0
  mtu: 1280
dns:
  enabled: $3
  bind_addr: "127.0.0.1"
  port: 5354
transports:
  udp:
    bind_addr: "0.0.0.0:$PORT"
YAML
}

hub_config() {
    mkdir -p "$HUB_DIR"
    { echo "# churn-soak.sh hub (test key)"; common_yaml "$HUB_DIR" "$HUB_NSEC" true
      echo "peers: []"; } > "$HUB_DIR/fips.yaml"
}

new_key() { "$FIPSCTL_BIN" keygen --json | jq -r .nsec; }

leaf_config() { # index nsec
    local d; d="$(leaf_dir "$1")"; mkdir -p "$d"
    { echo "# churn-soak.sh leaf $1"; common_yaml "$d" "$2" false
      cat <<YAML
peers:
  - npub: "$HUB_NPUB"
    alias: hub
    addresses:
      - transport: udp
        addr: "$HUB_IP:$PORT"
    connect_policy: auto_connect
YAML
    } > "$d/fips.yaml"
}

start_leaf() { # index
    start_daemon "$(leaf_dir "$1")" "$(leaf_ns "$1")" "$FIPS_BIN"
    # Two pings to the hub once the link is up: an end-to-end session.
    (sleep 2; ip netns exec "$(leaf_ns "$1")" ping -6 -n -q -c 2 -i 1 -W 2 "$HUB_FD") >/dev/null 2>&1 &
}

# ---------------------------------------------------------------- churn --
restart_leaf() { # index
    local i="$1" sig=TERM
    (( RANDOM % 2 )) && { sig=KILL; KILLS=$((KILLS + 1)); }
    stop_daemon "$(leaf_dir "$i")" "$sig"
    if (( RANDOM % 2 )); then leaf_config "$i" "$(new_key)"; FRESH=$((FRESH + 1)); fi
    start_leaf "$i"
    RESTARTS=$((RESTARTS + 1))
}

churn_round() {
    local picked=() i k
    while (( ${#picked[@]} < CHURN_N && ${#picked[@]} < LEAVES )); do
        i=$((RANDOM % LEAVES))
        [[ " ${picked[*]} " == *" $i "* ]] || picked+=("$i")
    done
    for k in "${picked[@]}"; do restart_leaf "$k"; done
}

# -------------------------------------------------------------- samples --
sample_hub() { # t
    local t="$1" pid out
    pid="$(pid_of "$HUB_DIR")"
    if ! alive "$HUB_DIR"; then echo -e "$t\thub/dead\t1" >> "$RUNDIR/hub.tsv"; return; fi
    {
        echo -e "$t\thub/rss_kb\t$(rss_kb "$pid")"
        echo -e "$t\thub/fds\t$(fd_count "$pid")"
        out="$(ctl_json "$HUB_DIR" peers)"
        echo -e "$t\thub/peers\t$(jq '.peers | length' <<<"$out")"
        echo -e "$t\thub/peers_connected\t$(jq '[.peers[] | select(.connectivity == "connected")] | length' <<<"$out")"
        echo -e "$t\thub/links\t$(ctl_json "$HUB_DIR" links | jq '.links | length')"
        echo -e "$t\thub/sessions\t$(ctl_json "$HUB_DIR" sessions | jq '.sessions | length')"
        echo -e "$t\thub/identity_cache\t$(ctl_json "$HUB_DIR" identity-cache | jq '.count')"
        echo -e "$t\thub/coord_cache\t$(ctl_json "$HUB_DIR" cache | jq '.count')"
        echo -e "$t\thub/connections\t$(ctl_json "$HUB_DIR" connections | jq '.connections | length')"
    } >> "$RUNDIR/hub.tsv" 2>/dev/null
}

soak() {
    local start=$SECONDS t next_sample=0
    : > "$RUNDIR/hub.tsv"
    say "churn: ${DURATION}s, $CHURN_N of $LEAVES leaves restarted every ${CHURN_EVERY}s, hub sampled every ${SAMPLE}s"
    while (( (t = SECONDS - start) < DURATION )); do
        if (( t >= next_sample )); then sample_hub "$t"; next_sample=$((next_sample + SAMPLE)); fi
        churn_round
        sleep "$CHURN_EVERY"
    done
    sample_hub "$((SECONDS - start))"
    note "restarts: $RESTARTS ($KILLS by SIGKILL, the rest SIGTERM; $FRESH with a fresh key)"
}

hub_count() { # what jq-filter
    ctl_json "$HUB_DIR" "$1" | jq "$2" 2>/dev/null
}

settle() {
    local i dead=0 deadline peers conn links
    for ((i = 0; i < LEAVES; i++)); do
        alive "$(leaf_dir "$i")" && continue
        dead=$((dead + 1))
        fail "leaf $(leaf "$i") is not running: $(tail -2 "$(leaf_dir "$i")/fips.log" | tr '\n' ' ' | cut -c1-200)"
    done
    (( dead == 0 )) && pass "every leaf is running after $RESTARTS restarts"
    deadline=$((SECONDS + SETTLE))
    while :; do
        peers="$(hub_count peers '.peers | length')"
        conn="$(hub_count peers '[.peers[] | select(.connectivity == "connected")] | length')"
        links="$(hub_count links '.links | length')"
        [[ "$peers" == "$LEAVES" && "$conn" == "$LEAVES" && "$links" == "$LEAVES" ]] && break
        (( SECONDS >= deadline )) && break
        sleep 2
    done
    if [[ "$peers" == "$LEAVES" && "$conn" == "$LEAVES" && "$links" == "$LEAVES" ]]; then
        pass "settled: the hub has $LEAVES peers and links, all connected (no stale entry)"
    else
        fail "not settled ${SETTLE}s after the churn: hub peers $peers (connected $conn), links $links, want $LEAVES each"
    fi
    note "hub counters: $(ctl_json "$HUB_DIR" routing | jq -c '.node | {peer_restarts, dead_peers, silent_peers, peer_limit, msg1_rate_limited, handshake_failed, handshake_timeouts}' 2>/dev/null)"
    note "hub dataplane: $(ctl_json "$HUB_DIR" routing | jq -c '.dataplane | {sessions_established, idle_timeouts, dead_sessions, handshake_timeouts, rekeys}' 2>/dev/null)"
}

verdicts() {
    local out rc seen=$((LEAVES + FRESH)) sessions
    # A session to an identity that left (a leaf restarted with a fresh key)
    # lives until its idle timeout (90 s), so the hub's sessions level off
    # only once that much churn has passed. A run whose base comes earlier
    # (the short CI run) bounds them instead: at most one per identity shown.
    if (( BASE_T >= 120 )); then sessions='hub/sessions:0.10:5'
    else sessions="hub/sessions:max:$((seen + 1))"; fi
    out="$(python3 "$HERE/soak_check.py" figures "$RUNDIR/hub.tsv" "$BASE_T" \
        'hub/rss_kb:0.10:0' 'hub/fds:0.10:2' 'hub/peers:0.10:5' 'hub/peers_connected:0.10:5' \
        'hub/links:0.10:5' "$sessions" 'hub/connections:0.10:5' \
        "hub/identity_cache:max:$(( seen + 1 < 10000 ? seen + 1 : 10000 ))" \
        "hub/coord_cache:max:$(( seen + 1 < 50000 ? seen + 1 : 50000 ))" 'hub/dead:max:0')"; rc=$?
    indent "$out"; echo "$out" > "$RUNDIR/hub-report.txt"
    if (( rc == 0 )); then pass "hub: RSS, fds, peers, links, sessions flat; caches within $seen identities shown"
    else fail "hub figures: see $RUNDIR/hub-report.txt"; fi
}

teardown() {
    local d
    for d in "$RUNDIR"/*/; do [[ -f "$d/fips.pid" ]] && stop_daemon "${d%/}" KILL; done
    del_listed_ns
}

main() {
    [[ $EUID -eq 0 ]] || { echo "churn-soak: needs root (netns, TUN)" >&2; exit 1; }
    need jq jq; need ping iputils-ping
    FIPS_BIN="$(pick_bin fips)"; FIPSCTL_BIN="$(pick_bin fipsctl)"
    teardown; rm -rf "$RUNDIR"; mkdir -p "$RUNDIR"; : > "$RUNDIR/netns.list"
    trap teardown EXIT
    say "churn-soak: $FIPS_BIN, hub and $LEAVES leaves, logs and samples in $RUNDIR"
    net_up
    hub_config
    start_daemon "$HUB_DIR" "$PREFIX-hub" "$FIPS_BIN"
    local i
    for ((i = 0; i < LEAVES; i++)); do leaf_config "$i" "$(new_key)"; start_leaf "$i"; done
    settle_start
    soak
    settle
    verdicts
    summary churn-soak
}

# Before the churn: every leaf linked (as `settle` checks after it).
settle_start() {
    local deadline=$((SECONDS + 60)) conn
    while (( SECONDS < deadline )); do
        conn="$(hub_count peers '[.peers[] | select(.connectivity == "connected")] | length')"
        [[ "$conn" == "$LEAVES" ]] && { pass "all $LEAVES leaves linked to the hub"; return 0; }
        sleep 1
    done
    fail "only ${conn:-0} of $LEAVES leaves linked to the hub after 60 s"
}

main "$@"
