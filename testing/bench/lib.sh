# shellcheck shell=bash
# Shared by the chain benchmarks (chain-bench.sh, junk-bench.sh): the YAML
# config of one node of the 3-node chain A - B - C, where A and C dial B.
# Needs RUN (the run directory).
# shellcheck source=../lib/config.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/config.sh"

fips_config() { # node peer_addr_or_empty
    if [ -n "$2" ]; then fips_yaml "$RUN/$1" bench "$1" 127.0.0.1 2121 "b@$2"
    else fips_yaml "$RUN/$1" bench "$1" 127.0.0.1 2121; fi
}
