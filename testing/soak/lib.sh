# shellcheck shell=bash
# Shared by loss-soak.sh and churn-soak.sh: logging, verdicts, daemon
# start/stop by pid file, control-socket queries and per-process figures.
# Sourced, not run. The caller sets RUNDIR, FIPS_BIN and FIPSCTL_BIN.
# shellcheck source=../lib/netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/netns.sh"

FAILS=()
NOTES=()

say() { echo "[$(date +%T)] $*"; }
fail() { FAILS+=("$*"); say "FAIL $*"; }
pass() { say "ok   $*"; }
note() { NOTES+=("$*"); say "note $*"; }
indent() { local line; while IFS= read -r line; do echo "     $line"; done <<<"$1"; }

need() { # command debian-package
    command -v "$1" >/dev/null && return 0
    say "installing Debian package $2"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

pick_bin() { # name -> path of our binary (env override FIPS_BIN / FIPSCTL_BIN)
    local v="${1^^}_BIN" p
    if [[ -n "${!v:-}" ]]; then readlink -f "${!v}"; return; fi
    for p in "$ROOT/target/release/$1" "$ROOT/target/debug/$1"; do
        [[ -x "$p" ]] && { echo "$p"; return; }
    done
    echo "soak: no $1 binary; run 'cargo xtask build-ebpf && cargo build --release -p fips' or set $v" >&2
    exit 1
}

# ------------------------------------------------------------ processes --
start_daemon() { # dir netns binary: runs `binary -c dir/fips.yaml` in netns
    local d="$1"
    rm -f "$d/control.sock"
    (cd "$d" && exec ip netns exec "$2" "$3" -c "$d/fips.yaml") >> "$d/fips.log" 2>&1 &
    echo $! > "$d/fips.pid"
    disown $!   # no "Killed" job notices when the churn kills it
}

pid_of() { cat "$1/fips.pid" 2>/dev/null; }
alive() { local p; p="$(pid_of "$1")"; [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null; }

# Stops the daemon of dir (signal TERM or KILL) and waits until it is gone,
# so a restart can take its TUN name and port again. Only a process whose
# command line names our RUNDIR is signalled.
stop_daemon() { # dir [signal]
    local d="$1" sig="${2:-TERM}" pid
    pid="$(pid_of "$d")" || return 0
    [[ -n "$pid" ]] || return 0
    if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "$RUNDIR"; then
        kill "-$sig" "$pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$d/fips.pid"
}

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# ------------------------------------------------------- control socket --
ctl_json() { # dir what
    timeout 10 "$FIPSCTL_BIN" -s "$1/control.sock" --json show "$2" 2>/dev/null
}

# ---------------------------------------------------------------- loss --
# LOSS (e.g. 0.05) of the datagrams arriving at the FIPS port of the
# namespace are dropped: each direction of each link loses LOSS,
# independently. A first rule without a target only counts what arrives.
add_loss() { # netns port probability
    ip netns exec "$1" iptables -w -A INPUT -p udp --dport "$2"
    ip netns exec "$1" iptables -w -A INPUT -p udp --dport "$2" \
        -m statistic --mode random --probability "$3" -j DROP
}

# Our daemon sends with UDP GSO: over a veth a batch of up to 64 datagrams
# stays one packet up to the receiving socket, so the loss rule would drop
# whole batches. With gso_max_segs 1 the sending veth segments every batch
# (as a NIC without UDP segmentation offload does), and the rule sees, and
# drops, single datagrams, as it does for a sender without GSO.
segment_on_send() { # netns dev
    [[ "${SEGMENT:-1}" == 1 ]] || return 0
    ip -n "$1" link set dev "$2" gso_max_segs 1
}

loss_counts() { # netns -> "arrived dropped" at the FIPS port
    ip netns exec "$1" iptables -w -L INPUT -v -n -x 2>/dev/null \
        | awk '/udp dpt:/ && !/statistic/ {a += $1} /statistic/ {d += $1} END {print a + 0, d + 0}'
}

# ------------------------------------------------------------- summary --
summary() { # name
    local n
    echo "---- $1 summary ($(date +%T)) ----"
    for n in "${NOTES[@]}"; do echo "  $n"; done
    if (( ${#FAILS[@]} == 0 )); then echo "RESULT: PASS"; return 0; fi
    echo "RESULT: FAIL (${#FAILS[@]})"
    for n in "${FAILS[@]}"; do echo "  - $n"; done
    return 1
}

kill_ns_pids() { # netns: ends the processes left in a namespace we created
    local p
    for p in $(ip netns pids "$1" 2>/dev/null); do kill "$p" 2>/dev/null; done
}

# What is left in the namespaces of $RUNDIR/netns.list (an iperf3 server
# whose client failed, say) is ours: ends it by pid, then deletes the
# namespaces and the list.
del_listed_ns() {
    local n
    [[ -f "$RUNDIR/netns.list" ]] || return 0
    while read -r n; do [[ -n "$n" ]] && kill_ns_pids "$n"; done < "$RUNDIR/netns.list"
    while read -r n; do [[ -n "$n" ]] && ip netns del "$n" 2>/dev/null; done < "$RUNDIR/netns.list"
    rm -f "$RUNDIR/netns.list"
}
