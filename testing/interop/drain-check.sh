#!/usr/bin/env bash
# Clean shutdown against another implementation: the chain of mixed-chain.sh
# (A ours, B the other, C ours), then
#   1. SIGTERM to C (ours): how long until B no longer lists C as a peer, and
#      how long C lives (its drain window, node.drain_timeout_secs = 2 s);
#   2. SIGTERM to B (the other): how long until A no longer lists B.
# A peer that drops the link on the Disconnect does so in milliseconds; one
# that waits for the dead timeout takes 30 s. Each figure must be under
# LIMIT_MS; 1.5 s by default because the reference v0.4.1 answers show_peers
# from a snapshot it publishes once a second (its log shows the Disconnect
# taken at once; our own daemon's figure is a few ms). Builds nothing: FIPS_REF_BIN is a binary you built (e.g. the
# reference v0.4.1's target/release/fips).
#
# Usage: sudo FIPS_REF_BIN=/path/to/fips testing/interop/drain-check.sh
# Env: FIPS_BIN [target/release/fips], PREFIX [fd], RUNDIR [/tmp/fips-drain],
#      LIMIT_MS [1500]. Exit 0 when both peers dropped the link in time.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
: "${FIPS_REF_BIN:?set FIPS_REF_BIN to the fips binary of the other implementation}"
export FIPS_REF_BIN REF_NODES=b SKIP_CA=1
export PREFIX="${PREFIX:-fd}" RUNDIR="${RUNDIR:-/tmp/fips-drain}"
export FIPS_BIN="${FIPS_BIN:-$ROOT/target/release/fips}"
LIMIT_MS="${LIMIT_MS:-1500}"
FIPSCTL="$(dirname "$(readlink -f "$FIPS_BIN")")/fipsctl"
# Test keys (testdata/identity.json): NPUB.
# shellcheck source=../lib/keys.sh
source "$ROOT/testing/lib/keys.sh"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
lists() { # node npub: does the node list npub as a peer?
    "$FIPSCTL" -s "$RUNDIR/$1/control.sock" --json show peers 2>/dev/null | grep -q "$2"
}
# SIGTERM `victim`; print "<ms until watcher drops it> <ms until victim exits>".
measure() { # victim watcher npub-of-victim
    local pid t0 gone="" died="" t
    pid="$(cat "$RUNDIR/$1/fips.pid")"
    lists "$2" "$3" || { echo "- -"; return; }
    t0="$(now_ms)"
    kill -TERM "$pid"
    while (( $(now_ms) - t0 < 10000 )); do
        t=$(( $(now_ms) - t0 ))
        [[ -z "$gone" ]] && ! lists "$2" "$3" && gone="$t"
        [[ -z "$died" ]] && ! kill -0 "$pid" 2>/dev/null && died="$t"
        [[ -n "$gone" && -n "$died" ]] && break
        sleep 0.01
    done
    echo "${gone:--} ${died:--}"
}

trap 'bash "$HERE/mixed-chain.sh" down >/dev/null 2>&1' EXIT
bash "$HERE/mixed-chain.sh" up >"$RUNDIR.up.log" 2>&1 || {
    echo "drain-check: the chain did not come up (see $RUNDIR.up.log)"; exit 1; }
rc=0
read -r gone died < <(measure c b "${NPUB[c]}")
echo "ours SIGTERMed: the other implementation dropped the link after ${gone} ms; ours exited after ${died} ms"
[[ "$gone" != - ]] && (( gone < LIMIT_MS )) || rc=1
read -r gone died < <(measure b a "${NPUB[b]}")
echo "the other SIGTERMed: ours dropped the link after ${gone} ms; it exited after ${died} ms"
[[ "$gone" != - ]] && (( gone < LIMIT_MS )) || rc=1
(( rc == 0 )) && echo "drain-check: PASS" || echo "drain-check: FAIL (limit ${LIMIT_MS} ms)"
exit "$rc"
