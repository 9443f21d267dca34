#!/usr/bin/env bash
# Compiles fips and fipsctl (release, with the embedded eBPF program), stages
# the sidecar's whole file system in docker/rootfs (docker/stage-rootfs.sh:
# the binaries stripped, their debug info kept in target/release/*.debug)
# and builds the images fips-sidecar:latest (FROM scratch) and fips-app:latest.
# If the app's base image debian:bookworm-slim is missing and cannot be
# pulled (no registry reachable), it is made offline with debootstrap from
# the Debian mirror of this machine's apt sources (docker/debian-mirror.sh),
# and the script says so.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ensure_base_image() {
    local base=debian:bookworm-slim
    if docker image inspect "$base" >/dev/null 2>&1; then return; fi
    if timeout 60 docker pull -q "$base" >/dev/null 2>&1; then return; fi
    echo "build-images: $base is not available and no registry answered;"
    echo "build-images: making it with debootstrap (installs the debootstrap package if missing)"
    command -v debootstrap >/dev/null || {
        echo "build-images: installing Debian package debootstrap"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap
    }
    local dir mirror
    dir="$(mktemp -d /tmp/fips-rootfs.XXXXXX)"
    mirror="$(docker/debian-mirror.sh)"
    echo "build-images: debootstrap bookworm from $mirror (this machine's apt source; DEBIAN_MIRROR overrides)"
    debootstrap --variant=minbase bookworm "$dir" "$mirror" >/tmp/fips-debootstrap.log 2>&1 \
        || { echo "build-images: debootstrap failed, see /tmp/fips-debootstrap.log" >&2; exit 1; }
    tar -C "$dir" -c . | docker import - "$base" >/dev/null
    rm -rf "$dir"
}

# The sidecar's Dockerfile as this engine takes it: HEALTHCHECK's
# --start-interval (the quick first probes) needs Docker Engine 25 or later.
sidecar_dockerfile() {
    local major
    major="$(docker version --format '{{.Server.Version}}' | cut -d. -f1)"
    if [ "${major:-0}" -ge 25 ]; then cat docker/Dockerfile; return; fi
    echo "build-images: engine $major.x has no HEALTHCHECK --start-interval: the first health probe comes after 5 s" >&2
    sed 's/ --start-interval=[^ ]*//' docker/Dockerfile
}

echo "build-images: cargo xtask build-ebpf"
cargo xtask build-ebpf
echo "build-images: cargo build --release -p fips"
FIPS_REQUIRE_EBPF=1 cargo build --release -p fips
docker/stage-rootfs.sh
echo "build-images: docker build fips-sidecar:latest"
docker build -q -t fips-sidecar:latest -f - docker < <(sidecar_dockerfile) >/dev/null
ensure_base_image
echo "build-images: docker build fips-app:latest"
docker build -q -t fips-app:latest -f docker/Dockerfile.app docker >/dev/null
echo "build-images: done (fips-sidecar:latest, fips-app:latest)"
