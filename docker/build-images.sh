#!/usr/bin/env bash
# Compiles fips and fipsctl (release, with the embedded eBPF program), copies
# them into the docker/ build context and builds the images fips-sidecar:latest
# and fips-app:latest. If the base image debian:bookworm-slim is missing and
# cannot be pulled (no registry reachable), it is made offline with
# debootstrap from the Debian mirror of this machine's apt sources
# (docker/debian-mirror.sh), and the script says so.
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

echo "build-images: cargo xtask build-ebpf"
cargo xtask build-ebpf
echo "build-images: cargo build --release -p fips"
cargo build --release -p fips
install -m 0755 target/release/fips target/release/fipsctl docker/
ensure_base_image
echo "build-images: docker build fips-sidecar:latest"
docker build -q -t fips-sidecar:latest -f docker/Dockerfile docker >/dev/null
echo "build-images: docker build fips-app:latest"
docker build -q -t fips-app:latest -f docker/Dockerfile.app docker >/dev/null
echo "build-images: done (fips-sidecar:latest, fips-app:latest)"
