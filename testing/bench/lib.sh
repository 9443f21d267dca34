# shellcheck shell=bash
# Shared by the chain benchmarks (chain-bench.sh, junk-bench.sh,
# metrics-bench.sh): the 3-node chain A - B - C in network namespaces, the
# YAML config of each node, where A and C dial B, and --record. Needs RUN (the run
# directory); the topology also P (the name prefix), NS (the namespaces
# $P-a $P-b $P-c) and PIDS (what to kill at the end).
# shellcheck source=../lib/config.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/config.sh"
# shellcheck source=../lib/chain.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/chain.sh"

fips_config() { # node peer_addr_or_empty
    if [ -n "$2" ]; then fips_yaml "$RUN/$1" bench "$1" 127.0.0.1 2121 "b@$2"
    else fips_yaml "$RUN/$1" bench "$1" 127.0.0.1 2121; fi
}

# The namespaces and veths of the chain: A - B on 10.NET.0.0/30 (A .1, B .2),
# B - C on 10.NET.0.4/30 (B .5, C .6).
chain_topology() { # net (second octet)
    local n
    for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null || true; ip netns add "$n"; ip -n "$n" link set lo up; done
    chain_veths "$P" "$1" "${NS[@]}"
}

# Kills PIDS, deletes the namespaces, removes RUN.
chain_cleanup() {
    local p n
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.3
    for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null || true; done
    rm -rf "$RUN"
}

# Waits (up to 30 s) until A pings C over the chain; A learns C's npub the
# way an application would, from a <npub>.fips AAAA answer of its own DNS.
# On failure prints "WHAT: the FIPS chain did not come up" and the logs.
chain_wait_up() { # what (the caller's name and binary, for the message)
    for _ in $(seq 1 60); do
        ip netns exec "$P-a" dig +short +time=1 +tries=1 @127.0.0.1 -p 5354 AAAA "${NPUB[c]}.fips" >/dev/null 2>&1 || true
        ip netns exec "$P-a" ping -6 -c1 -W1 "${FD[c]}" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "$1: the FIPS chain did not come up (logs in $RUN)" >&2
    tail -n 5 "$RUN"/*.log >&2
    return 1
}

# Stops every daemon in PIDS and waits for it.
chain_stop_all() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PIDS=()
}

# With --record (RECORD=1), appends "### TITLE, <date>", the command line
# and $RUN/table.md to docs/benchmarks.md.
bench_record() { # title command
    [ "$RECORD" = 1 ] || return 0
    { echo; echo "### $1, $(date -u '+%F %H:%M UTC')"; echo;
      echo "Command: \`$2\`"; echo;
      cat "$RUN/table.md"; } >> "$ROOT/docs/benchmarks.md"
}
