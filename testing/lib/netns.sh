# Sourced by the scripts that make their own network namespaces (the soak
# runs, the interop chain): each namespace is listed in $RUNDIR/netns.list,
# so a teardown, or a later run with the same RUNDIR, finds and deletes it.
# shellcheck shell=bash

# Creates namespace NAME with its loopback up and IPv6 on, and lists it.
new_ns() { # name
    ip netns add "$1" && echo "$1" >> "$RUNDIR/netns.list"
    ip -n "$1" link set lo up
    ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=0
}
