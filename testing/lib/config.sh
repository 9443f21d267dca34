# Sourced by the test scripts: the YAML config of one node, in the layout
# both our daemon and the reference read. Needs the NSEC/NPUB arrays of
# keys.sh (sourced here).
# shellcheck shell=bash
# shellcheck source=keys.sh
source "$(dirname "${BASH_SOURCE[0]}")/keys.sh"

# Writes DIR/fips.yaml for node NODE: control socket DIR/control.sock, TUN
# fips0, DNS on DNS_BIND:5354, UDP on 0.0.0.0:PORT, and a peer for each
# "name@ip" given (dialled at ip:PORT); none: `peers: []`.
fips_yaml() { # dir label node dns_bind port [name@ip ...]
    local d="$1" label="$2" n="$3" dns="$4" port="$5" p
    shift 5
    mkdir -p "$d"
    cat > "$d/fips.yaml" <<YAML
# $label node $n (test key)
node:
  identity:
    nsec: "${NSEC[$n]}"
  control:
    enabled: true
    socket_path: "$d/control.sock"
tun:
  enabled: true
  name: fips0
  mtu: 1280
dns:
  enabled: true
  bind_addr: "$dns"
  port: 5354
transports:
  udp:
    bind_addr: "0.0.0.0:$port"
YAML
    if (( $# == 0 )); then echo "peers: []" >> "$d/fips.yaml"; return; fi
    echo "peers:" >> "$d/fips.yaml"
    for p in "$@"; do
        cat >> "$d/fips.yaml" <<YAML
  - npub: "${NPUB[${p%@*}]}"
    alias: "node-${p%@*}"
    addresses:
      - transport: udp
        addr: "${p#*@}:$port"
    connect_policy: auto_connect
YAML
    done
}
