#!/usr/bin/env bash
# Benchmark (not a test): the I/O ceiling of the daemon's data path.
# Two namespaces joined by a veth; in each, examples/relay_tunnel moves
# packets between an offloading TUN and a UDP socket with the daemon's I/O
# pieces (fips::udp, tun::offload, tun::coalesce), relaying them verbatim
# (no crypto, no protocol). iperf3 over the tunnel, with the offloads
# (TUN TSO + UDP GSO/GRO + coalesced TUN writes) and without, beside the
# raw veth, in the same run.
#
# Usage: sudo testing/bench/relay-bench.sh   (DURATION, default 5 s)
# Build first: cargo build --release -p fips --example relay_tunnel
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${RELAY_BIN:-$ROOT/target/release/examples/relay_tunnel}"
DURATION="${DURATION:-5}"
P=fr
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for n in a b; do ip netns del "$P-$n" 2>/dev/null || true; done
}
trap cleanup EXIT
[ -x "$BIN" ] || { echo "relay-bench: build it: cargo build --release -p fips --example relay_tunnel" >&2; exit 1; }
command -v iperf3 >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3 >/dev/null

for n in a b; do ip netns del "$P-$n" 2>/dev/null || true; ip netns add "$P-$n"; ip -n "$P-$n" link set lo up; done
ip link add "$P-va" netns "$P-a" type veth peer name "$P-vb" netns "$P-b"
ip -n "$P-a" addr add 10.202.0.1/30 dev "$P-va"; ip -n "$P-b" addr add 10.202.0.2/30 dev "$P-vb"
ip -n "$P-a" link set "$P-va" up; ip -n "$P-b" link set "$P-vb" up

iperf() { # from to -> Mbit/s
    ip netns exec "$P-b" iperf3 -s -1 -D -p 5202 >/dev/null 2>&1; sleep 0.3
    ip netns exec "$P-a" iperf3 -c "$1" -p 5202 -t "$DURATION" -J 2>/dev/null \
        | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6))'
}

tunnel() { # label extra-arg
    for n in a b; do
        local me=1 peer=2; [ "$n" = b ] && { me=2; peer=1; }
        ip netns exec "$P-$n" "$BIN" "10.202.0.$me:7100" "10.202.0.$peer:7100" "$P-t$n" $2 &
        PIDS+=($!)
        sleep 0.3
        ip -n "$P-$n" addr add "fdcc::$me/64" dev "$P-t$n" nodad
        ip -n "$P-$n" link set "$P-t$n" mtu 1280 up
    done
    sleep 0.3
    echo "| $1 | $(iperf fdcc::2) |"
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    PIDS=()
}

echo "| path | TCP Mbit/s |"
echo "|---|---|"
echo "| raw veth (MTU 1500) | $(iperf 10.202.0.2) |"
tunnel "relay tunnel, batched + offloads (MTU 1280)" ""
tunnel "relay tunnel, batched, no offloads (MTU 1280)" "--no-offload"
echo
echo "iperf3 ${DURATION} s single stream; $(nproc) cores, kernel $(uname -r), $(date -u +%F)."
