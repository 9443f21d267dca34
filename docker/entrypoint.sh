#!/bin/sh
# Sidecar entrypoint (PID 1 of the fips container).
#
# With arguments, runs them in place of the default daemon (e.g. `fips -c FILE`).
# Without, the daemon configures itself from the FIPS_* environment variables
# and validates them itself: a bad value exits here with a message naming the
# variable, and the container stops.
#
# The daemon runs as a child so that, if it is killed, the container and its
# network namespace survive: the eBPF filter the daemon pinned on eth0 keeps
# blocking (fail-closed) and the daemon is started again, replacing its
# filter without a gap. A clean exit or a configuration error ends the
# container; SIGTERM/SIGINT are passed on for a clean shutdown.
set -u
if [ "$#" -eq 0 ]; then
    # The sidecar's identity is its address on the mesh: never invent one.
    if [ -z "${FIPS_NSEC:-}" ] && [ -z "${FIPS_NSEC_FILE:-}" ]; then
        echo "fips-entrypoint: FIPS_NSEC is required: set it to the node's secret key (64 hex characters or nsec1...), or FIPS_NSEC_FILE to a file holding it; 'fipsctl keygen' makes one" >&2
        exit 2
    fi
    set -- /usr/local/bin/fips
fi
# A peer given by host name (FIPS_PEER_ADDR=fips-node-d:4000) is resolved
# by the daemon, at start and again while it runs (a peer container that
# starts later or comes back at a new address is still found), through the
# resolver this container started with: resolv.conf is about to name the
# .fips server, which answers nothing else. That works while the resolver
# is on loopback (Docker's 127.0.0.11), which the filter does not touch. A
# resolver across eth0 (Kubernetes' cluster DNS) is out of reach once the
# filter is up, so there FIPS_PEER_ADDR is resolved here, once, before it.
# After a restart of the container, resolv.conf is the one written below
# (Docker keeps a file the container changed): the comment line it carries
# names the resolver the container started with.
if [ -z "${FIPS_PEER_RESOLVER:-}" ] && [ -r /etc/resolv.conf ]; then
    # (A link-local server, fe80::1%eth0, is not one the daemon can name.)
    ns="$(awk '$1 == "#" && $2 == "fips-entrypoint:" && $3 == "resolver" {print $4; exit}
               $1 == "nameserver" && $2 != "127.0.0.1" && $2 !~ /%/ {print $2; exit}' /etc/resolv.conf)"
    if [ -n "$ns" ]; then
        export FIPS_PEER_RESOLVER="$ns"
    fi
fi
case "${FIPS_PEER_RESOLVER:-}" in
    127.*|::1|\[::1\]*) ;;
    *)
        if [ -n "${FIPS_PEER_ADDR:-}" ]; then
            host="${FIPS_PEER_ADDR%:*}"
            port="${FIPS_PEER_ADDR##*:}"
            case "$host" in
                \[*) ;;
                *[!0-9.]*)
                    ip="$(getent ahostsv4 "$host" | awk 'NR==1 {print $1}')"
                    if [ -z "$ip" ]; then
                        echo "fips-entrypoint: FIPS_PEER_ADDR: cannot resolve host name '$host' (resolver ${FIPS_PEER_RESOLVER:-none}, across eth0, which the filter will close); give an IPv4 address or a resolvable name" >&2
                        exit 2
                    fi
                    export FIPS_PEER_ADDR="$ip:$port"
                    ;;
            esac
        fi
        ;;
esac
# The app shares this network namespace: names resolve through the daemon's
# DNS server on 127.0.0.1:53, not Docker's resolver.
if [ -w /etc/resolv.conf ]; then
    {
        if [ -n "${FIPS_PEER_RESOLVER:-}" ]; then
            echo "# fips-entrypoint: resolver $FIPS_PEER_RESOLVER (the container's own; for the daemon's peer lookups)"
        fi
        echo "nameserver 127.0.0.1"
    } > /etc/resolv.conf
fi

child=0
stopping=0
forward() { stopping=1; [ "$child" -ne 0 ] && kill -TERM "$child" 2>/dev/null; }
trap forward TERM INT

while :; do
    "$@" &
    child=$!
    wait "$child"
    code=$?
    # `wait` returns early when a trapped signal arrives: wait for the real exit.
    while kill -0 "$child" 2>/dev/null; do wait "$child"; code=$?; done
    if [ "$stopping" -eq 1 ] || [ "$code" -le 128 ]; then
        exit "$code"
    fi
    echo "fips-entrypoint: daemon died from signal $((code - 128)); filter stays attached; restarting in 1 s" >&2
    sleep 1
done
