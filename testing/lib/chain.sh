# Sourced by the scripts that build the 3-node chain A - B - C (the
# benchmarks, the soak, the interop run): its veths and addresses, one
# layout for all of them.
# shellcheck shell=bash

# Joins three existing namespaces into the chain: A - B on 10.NET.0.0/30
# (A .1, B .2), B - C on 10.NET.0.4/30 (B .5, C .6), the interfaces
# PREFIX-ab-a, PREFIX-ab-b, PREFIX-bc-b and PREFIX-bc-c, all up.
chain_veths() { # prefix net ns_a ns_b ns_c
    local p="$1" net="$2" a="$3" b="$4" c="$5"
    ip link add "$p-ab-a" netns "$a" type veth peer name "$p-ab-b" netns "$b"
    ip link add "$p-bc-b" netns "$b" type veth peer name "$p-bc-c" netns "$c"
    ip -n "$a" addr add "10.$net.0.1/30" dev "$p-ab-a"
    ip -n "$b" addr add "10.$net.0.2/30" dev "$p-ab-b"
    ip -n "$b" addr add "10.$net.0.5/30" dev "$p-bc-b"
    ip -n "$c" addr add "10.$net.0.6/30" dev "$p-bc-c"
    ip -n "$a" link set "$p-ab-a" up
    ip -n "$b" link set "$p-ab-b" up
    ip -n "$b" link set "$p-bc-b" up
    ip -n "$c" link set "$p-bc-c" up
}
