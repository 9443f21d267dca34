# Shared by the chain benchmarks (chain-bench.sh, junk-bench.sh): the YAML
# config of one node of the 3-node chain A - B - C, where A and C dial B.
# Needs RUN (the run directory) and the NSEC/NPUB arrays of
# testing/lib/keys.sh, which the caller sources.

fips_config() { # node peer_addr_or_empty
    local n="$1" d="$RUN/$1"; mkdir -p "$d"
    cat > "$d/fips.yaml" <<YAML
node:
  identity:
    nsec: "${NSEC[$n]}"
  control:
    socket_path: "$d/control.sock"
tun:
  enabled: true
  name: fips0
  mtu: 1280
dns:
  enabled: true
  bind_addr: "127.0.0.1"
  port: 5354
transports:
  udp:
    bind_addr: "0.0.0.0:2121"
YAML
    if [ -n "$2" ]; then cat >> "$d/fips.yaml" <<YAML
peers:
  - npub: "${NPUB[b]}"
    alias: "b"
    addresses:
      - transport: udp
        addr: "$2:2121"
    connect_policy: auto_connect
YAML
    else echo "peers: []" >> "$d/fips.yaml"; fi
}
