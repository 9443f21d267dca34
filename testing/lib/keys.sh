# Sourced by the test scripts: the test identities and topologies of
# testdata/identity.json, their one source (test keys only). Defines
# associative arrays keyed by node name (a..e; `sidecar` for the sidecar's
# development key):
#   NSEC   secret, 64 hex characters     NPUB   npub1...
#   NADDR  node address, 32 hex          FD     fd address as dig prints it
# and the link lists "x y" (x dials y): MESH_LINKS (the 5-node static mesh),
# CHAIN_LINKS (a - b - c, a and c dial b), and MESH_IPV4 (the static mesh's
# IPv4 addresses of testing/static, keyed like the others).
# shellcheck shell=bash

_fips_keys_json="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/testdata/identity.json"
# shellcheck disable=SC2034 # used by the scripts that source this file
declare -A NSEC NPUB NADDR FD MESH_IPV4
# shellcheck disable=SC2034
MESH_LINKS=()
# shellcheck disable=SC2034
CHAIN_LINKS=()
eval "$(python3 - "$_fips_keys_json" <<'PY'
import ipaddress, json, shlex, sys
v = json.load(open(sys.argv[1]))
q = shlex.quote
for n in v["nodes"]:
    name = n["name"].removesuffix("-default")
    print(f"NSEC[{name}]={q(n['nsec_hex'])} NPUB[{name}]={q(n['npub'])} "
          f"NADDR[{name}]={q(n['node_addr_hex'])} "
          f"FD[{name}]={q(ipaddress.ip_address(n['ipv6']).compressed)}")
for name, ip in v["static_mesh_ipv4"].items():
    print(f"MESH_IPV4[{name}]={q(ip)}")
for var, key in (("MESH_LINKS", "static_mesh_links"), ("CHAIN_LINKS", "chain_links")):
    print(f"{var}=(" + " ".join(q(f'{a} {b}') for a, b in v[key]) + ")")
PY
)"
unset _fips_keys_json

# The nodes `$1` dials in the link list named by `$2` (MESH_LINKS or CHAIN_LINKS).
dials_of() {
    local -n _links="$2"; local l out=()
    for l in "${_links[@]}"; do [[ "${l%% *}" == "$1" ]] && out+=("${l#* }"); done
    echo "${out[*]}"
}

# How many links of the list named by `$2` node `$1` has.
degree_of() {
    local -n _links="$2"; local l n=0
    for l in "${_links[@]}"; do [[ "${l%% *}" == "$1" || "${l#* }" == "$1" ]] && n=$((n + 1)); done
    echo "$n"
}
