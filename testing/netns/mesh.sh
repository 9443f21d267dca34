#!/usr/bin/env bash
# mesh.sh — the 5-node static FIPS mesh of our daemons (plus a sidecar node)
# in network namespaces, no Docker. The project's "main job".
#
#   testing/netns/mesh.sh up       start it (idempotent: tears down first)
#   testing/netns/mesh.sh status   links, tree and peers of every node
#   testing/netns/mesh.sh down     stop the daemons, delete the namespaces
#
# Topology: the static mesh of testdata/identity.json (links a-d a-e
# c-d b-c d-e c-e), same keys and IPv4 addresses as testing/static. Every
# node has an `eth0` in its own namespace, bridged in a hub namespace, so
# any node can reach any other over IPv4 but FIPS links only the configured
# pairs. The sidecar namespace runs the daemon in environment mode (as the
# sidecar container does), peered with d (FIPS_PEER_*) and e (FIPS_PEERS),
# two ways into the mesh, with eth0 enforcement on. Its filter is pinned on
# the host's bpffs (mounted if absent), so it outlives the daemon: `up`
# kills the daemon (kill -9), shows that six escape probes
# (testing/netns/escape.py) still get nothing out, and starts it again.
#
# Knobs: FIPS_BIN / FIPSCTL_BIN (default: target/release, else target/debug),
#        RUNDIR [/tmp/fips-mesh], PREFIX [fd-mesh], WAIT [40], RUST_LOG [info],
#        SIDECAR [1] (0: no sidecar node).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
RUNDIR="${RUNDIR:-/tmp/fips-mesh}"
PREFIX="${PREFIX:-fd-mesh}"
WAIT="${WAIT:-40}"
SIDECAR="${SIDECAR:-1}"
export RUST_LOG="${RUST_LOG:-info}"

pick_bin() { # $1=name
  local v="${1^^}_BIN"; v="${v//-/_}"
  if [[ -n "${!v:-}" ]]; then echo "${!v}"; return; fi
  for p in "$ROOT/target/release/$1" "$ROOT/target/debug/$1"; do
    [[ -x "$p" ]] && { echo "$p"; return; }
  done
  echo "mesh.sh: no $1 binary; run 'cargo build --release -p fips' or set ${v}" >&2; exit 1
}

# Test keys, addresses and links: testdata/identity.json.
# shellcheck source=../lib/keys.sh
source "$ROOT/testing/lib/keys.sh"
NODES=(a b c d e)
declare -A IPV4 DIALS DEGREE
for n in "${!MESH_IPV4[@]}"; do IPV4[$n]=${MESH_IPV4[$n]}; done
# Each node dials the peers of its links it comes first in; the other side accepts.
for n in "${NODES[@]}"; do DIALS[$n]="$(dials_of "$n" MESH_LINKS)"; DEGREE[$n]="$(degree_of "$n" MESH_LINKS)"; done

ns() { echo "$PREFIX-$1"; }
ctl() { "$FIPSCTL_BIN" -s "$RUNDIR/$1/control.sock" "${@:2}"; }

config_for() { # $1=node
  local n=$1 p
  cat <<EOF
# mesh.sh: static mesh node $n
node:
  identity:
    nsec: "${NSEC[$n]}"
  control:
    socket_path: "$RUNDIR/$n/control.sock"
tun:
  enabled: true
  name: fips0
  mtu: 1280
dns:
  enabled: true
  bind_addr: 127.0.0.1
  port: 53
transports:
  udp:
    bind_addr: "0.0.0.0:4000"
EOF
  echo "peers:"
  for p in ${DIALS[$n]}; do
    cat <<EOF
  - npub: "${NPUB[$p]}"
    alias: node-$p
    addresses:
      - transport: udp
        addr: "${IPV4[$p]}:4000"
    connect_policy: auto_connect
EOF
  done
}

net_up() {
  local hub; hub="$(ns hub)"
  ip netns add "$hub"; echo "$hub" >> "$RUNDIR/netns.list"
  ip -n "$hub" link add fdv-br type bridge
  ip -n "$hub" link set fdv-br up
  local all=("${NODES[@]}"); [[ "$SIDECAR" == 1 ]] && all+=(sidecar)
  for n in "${all[@]}"; do
    ip netns add "$(ns "$n")"; echo "$(ns "$n")" >> "$RUNDIR/netns.list"
    # `ip netns exec` bind-mounts this over /etc/resolv.conf: names resolve
    # through the node's own DNS server, as in the sidecar.
    mkdir -p "/etc/netns/$(ns "$n")"; echo "nameserver 127.0.0.1" > "/etc/netns/$(ns "$n")/resolv.conf"
    ip -n "$(ns "$n")" link set lo up
    ip netns exec "$(ns "$n")" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0
    ip -n "$hub" link add "fdv-$n" type veth peer name eth0 netns "$(ns "$n")"
    ip -n "$hub" link set "fdv-$n" master fdv-br up
    ip -n "$(ns "$n")" addr add "${IPV4[$n]}/24" dev eth0
    ip -n "$(ns "$n")" link set eth0 up
  done
}

start_node() { # $1=node
  local n=$1 d="$RUNDIR/$1"
  mkdir -p "$d"; config_for "$n" > "$d/fips.yaml"
  ip netns exec "$(ns "$n")" "$FIPS_BIN" -c "$d/fips.yaml" > "$d/fips.log" 2>&1 &
  echo $! > "$d/fips.pid"
}

# The sidecar pins its filter on the host's bpffs, which outlives the
# daemon: that is what makes the filter fail-closed. `ip netns exec` would
# give the daemon a private /sys, and a bpffs it mounted there would die
# with it; so the sidecar enters only the network namespace (nsenter).
ensure_bpffs() {
  [[ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" == bpf_fs ]] && return 0
  echo "mesh.sh: mounting bpffs on the host at /sys/fs/bpf (the sidecar pins its filter there, so the filter outlives its daemon)"
  mount -t bpf bpf /sys/fs/bpf
}

start_sidecar() {
  local d="$RUNDIR/sidecar"; mkdir -p "$d"
  nsenter --net="/var/run/netns/$(ns sidecar)" env -i PATH="$PATH" RUST_LOG="$RUST_LOG" \
    FIPS_NSEC="${NSEC[sidecar]}" FIPS_PEER_NPUB="${NPUB[d]}" FIPS_PEER_ADDR="${IPV4[d]}:4000" \
    FIPS_PEER_ALIAS=node-d FIPS_PEERS="node-e=${NPUB[e]}@${IPV4[e]}:4000" \
    FIPS_UDP_BIND=0.0.0.0:4000 FIPS_CONTROL_SOCKET="$d/control.sock" \
    "$FIPS_BIN" >> "$d/fips.log" 2>&1 &
  echo $! > "$d/fips.pid"
}

peer_count() { ctl "$1" --json show status 2>/dev/null | jq -r '.peer_count // empty' 2>/dev/null; }
root_of() { ctl "$1" --json show status 2>/dev/null | jq -r '.root // empty' 2>/dev/null; }

# The tree settles a moment after the links: wait until all agree on a.
wait_tree() {
  local n i ok
  for ((i = 0; i < 20; i++)); do
    ok=1
    for n in "${NODES[@]}"; do [[ "$(root_of "$n")" == "${NADDR[a]}" ]] || ok=0; done
    [[ $ok == 1 ]] && return 0
    sleep 0.5
  done
  return 1
}

wait_links() {
  local n want i
  for ((i = 0; i < WAIT * 2; i++)); do
    local ok=1
    for n in "${NODES[@]}"; do
      want=${DEGREE[$n]}; [[ "$SIDECAR" == 1 && ( $n == d || $n == e ) ]] && want=$((want + 1))
      [[ "$(peer_count "$n")" == "$want" ]] || ok=0
    done
    [[ $ok == 1 ]] && return 0
    sleep 0.5
  done
  return 1
}

up() {
  down >/dev/null 2>&1 || true
  mkdir -p "$RUNDIR"; : > "$RUNDIR/netns.list"
  net_up
  for n in "${NODES[@]}"; do start_node "$n"; done
  [[ "$SIDECAR" == 1 ]] && { ensure_bpffs; rm -f "$RUNDIR/sidecar/fips.log"; start_sidecar; }
  local rc=0
  if wait_links; then echo "mesh.sh: all configured links are up"; else echo "mesh.sh: links not all up after ${WAIT}s" >&2; rc=1; fi
  if wait_tree; then echo "mesh.sh: spanning tree rooted at node a"; else echo "mesh.sh: tree not settled" >&2; fi
  for f in "$RUNDIR"/*/fips.pid; do
    kill -0 "$(cat "$f")" 2>/dev/null && continue
    echo "mesh.sh: $(basename "$(dirname "$f")") DIED; last lines of its log:" >&2
    tail -5 "$(dirname "$f")/fips.log" >&2; rc=1
  done
  status
  echo "logs: $RUNDIR/<node>/fips.log   control: fipsctl -s $RUNDIR/<node>/control.sock show peers"
  if ip netns exec "$(ns a)" ping -6 -c 2 -W 2 -q "${NPUB[b]}.fips" >/dev/null 2>&1; then
    echo "mesh.sh: a pings b by name across the mesh (a - d|e - c - b)"
  else
    echo "mesh.sh: a cannot ping ${NPUB[b]}.fips" >&2; rc=1
  fi
  [[ "$SIDECAR" == 1 ]] && { sidecar_checks || rc=1; }
  [[ "$SIDECAR" == 1 ]] && { fail_closed_checks || rc=1; }
  echo "try:  ip netns exec $(ns a) ping -6 -c3 ${NPUB[b]}.fips    (names resolve via each node's DNS)"
  return $rc
}

# The sidecar's promise, shown in its namespace: the mesh by name works,
# the bridge does not, loopback does.
sidecar_checks() {
  local s rc=0
  s="$(ns sidecar)"
  if ip netns exec "$s" ping -6 -c 2 -W 3 -q "${NPUB[a]}.fips" >/dev/null 2>&1; then
    echo "mesh.sh: sidecar pings node a by name over the mesh (sidecar - d|e - a)"
  else
    echo "mesh.sh: sidecar cannot ping ${NPUB[a]}.fips" >&2; rc=1
  fi
  if ip netns exec "$s" ping -c 1 -W 2 -q "${IPV4[d]}" >/dev/null 2>&1; then
    echo "mesh.sh: sidecar reached ${IPV4[d]} over eth0: NOT isolated" >&2; rc=1
  else
    echo "mesh.sh: sidecar cannot reach ${IPV4[d]} over eth0 (the eBPF filter drops it)"
  fi
  if ip netns exec "$s" ping -c 1 -W 2 -q 127.0.0.1 >/dev/null 2>&1; then
    echo "mesh.sh: sidecar loopback works"
  else
    echo "mesh.sh: sidecar loopback does not work" >&2; rc=1
  fi
  echo "mesh.sh: sidecar filter counters: fipsctl -s $RUNDIR/sidecar/control.sock show firewall"
  return $rc
}

# Runs escape.py's six probes from node $1's namespace to node d and
# prints what arrived there. $2: the transport port to forge and share.
escape_probes() {
  local out="$RUNDIR/escape.$1" ll lp i
  ll="$(ip -n "$(ns d)" -6 -o addr show dev eth0 scope link | awk '{print $4; exit}')"
  ip netns exec "$(ns d)" python3 "$HERE/escape.py" listen 7100 6 > "$out" 2>&1 &
  lp=$!
  for ((i = 0; i < 40; i++)); do grep -q listening "$out" 2>/dev/null && break; sleep 0.1; done
  nsenter --net="/var/run/netns/$(ns "$1")" python3 "$HERE/escape.py" send \
    "${IPV4[d]}" "${ll%/*}" 7100 "$2" > "$out.send" 2>&1 || true
  wait "$lp" || true
  grep '^arrived' "$out" || echo "arrived: (the listener failed: $(tail -1 "$out"))"
}

# Fail-closed, shown: the sidecar's daemon is killed (kill -9) and the
# escape probes still get nothing out, while the same probes from node c
# (no filter) arrive, so they do work. Then the daemon is started again and
# takes its pinned filter over.
fail_closed_checks() {
  local rc=0 got none="arrived tcp=0 udp=0 raw=0 twin=0 icmp=0 icmp6=0" pid
  if ctl sidecar show firewall | grep -q '^pinned: fail-closed'; then
    echo "mesh.sh: the sidecar's filter is pinned fail-closed (on the host's bpffs)"
  else
    echo "mesh.sh: the sidecar's filter is not fail-closed:" >&2; ctl sidecar show firewall | head -3 >&2; rc=1
  fi
  got="$(escape_probes c 4999)"
  if [[ "$got" == *"tcp=1 udp=1 raw=1 twin=1 icmp=1 icmp6=1"* ]]; then
    echo "mesh.sh: escape probes from node c (no filter) all arrive at d: $got"
  else
    echo "mesh.sh: escape probes from node c do not all arrive at d ($got): the probes are broken" >&2; rc=1
  fi
  pid="$(cat "$RUNDIR/sidecar/fips.pid")"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  echo "mesh.sh: killed the sidecar's daemon (kill -9 $pid)"
  got="$(escape_probes sidecar 4000)"
  if [[ "$got" == "$none" ]]; then
    echo "mesh.sh: with its daemon dead, escape probes from the sidecar get nothing out: $got"
  else
    echo "mesh.sh: with its daemon dead, escape probes from the sidecar GOT OUT: $got" >&2; rc=1
  fi
  echo "mesh.sh: starting the sidecar's daemon again (it takes its pinned filter over)"
  start_sidecar
  local i
  for ((i = 0; i < WAIT * 2; i++)); do [[ "$(peer_count sidecar)" == 2 ]] && break; sleep 0.5; done
  if [[ "$(peer_count sidecar)" == 2 ]] && ip netns exec "$(ns sidecar)" ping -6 -c 2 -W 3 -q "${NPUB[a]}.fips" >/dev/null 2>&1; then
    echo "mesh.sh: the restarted sidecar links to d and e again and pings node a by name"
  else
    echo "mesh.sh: the restarted sidecar did not come back (see $RUNDIR/sidecar/fips.log)" >&2; rc=1
  fi
  return $rc
}

status() {
  local all=("${NODES[@]}"); [[ -f "$RUNDIR/sidecar/fips.pid" ]] && all+=(sidecar)
  for n in "${all[@]}"; do
    echo "=== node $n (ns $(ns "$n"))"
    if ! ctl "$n" show status 2>&1 | grep -E '^(npub|ipv6 addr|root|is root|peers) '; then
      echo "(not running; see $RUNDIR/$n/fips.log)"; continue
    fi
    ctl "$n" show peers 2>&1 | cut -c1-120
  done
}

down() {
  local f pid
  # The sidecar's pins live on the host's bpffs: remove them with the filter.
  [[ -S "$RUNDIR/sidecar/control.sock" && -n "${FIPSCTL_BIN:-}" ]] && ctl sidecar firewall remove >/dev/null 2>&1 || true
  for f in "$RUNDIR"/*/fips.pid; do
    [[ -f "$f" ]] || continue
    pid=$(cat "$f"); kill -TERM "$pid" 2>/dev/null || true
  done
  sleep 1
  for f in "$RUNDIR"/*/fips.pid; do
    [[ -f "$f" ]] || continue
    pid=$(cat "$f"); kill -KILL "$pid" 2>/dev/null || true; rm -f "$f"
  done
  if [[ -f "$RUNDIR/netns.list" ]]; then
    while read -r n; do
      [[ -n "$n" ]] || continue
      ip netns del "$n" 2>/dev/null || true; rm -rf "/etc/netns/$n"
    done < "$RUNDIR/netns.list"
    rm -f "$RUNDIR/netns.list"
  fi
  echo "mesh.sh: down"
}

[[ $EUID -eq 0 ]] || { echo "mesh.sh: must run as root (netns, TUN)" >&2; exit 1; }
pick_bins() { FIPS_BIN="$(pick_bin fips)"; FIPSCTL_BIN="$(pick_bin fipsctl)"; }
case "${1:-up}" in
  up) pick_bins; up ;;
  status) pick_bins; status ;;
  down) FIPSCTL_BIN="$(pick_bin fipsctl 2>/dev/null)" || true; down ;;
  *) echo "usage: $0 up|status|down" >&2; exit 2 ;;
esac
