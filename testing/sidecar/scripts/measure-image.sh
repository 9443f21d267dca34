#!/usr/bin/env bash
# Measures the sidecar image as a new user meets it, against the image this
# project shipped before (commit BASE, default 7e83376: debian:bookworm-slim
# with the unstripped release binaries and a 5 s first health probe), in one
# run: the image's size, and the time from `docker compose up -d` (this
# folder's docker-compose.yml, a peer configured) to Docker's HEALTHCHECK
# reporting healthy, ROUNDS times each (default 5), the images alternating.
#
# The peer is a fips node (testing/static's node d) in a container of its
# own on the network fips-image-net (172.20.9.0/24); the sidecar comes up
# there with FIPS_PEER_NPUB/FIPS_PEER_ADDR pointing at it, and `healthy`
# includes its link to that peer (fipsctl health). Both images run the same
# daemon build: the old one as build.sh copied it then (target/release,
# with debug info), the new one as docker/stage-rootfs.sh strips it.
#
# Usage (root, Docker Engine running; uses the containers fips-sidecar and
# fips-app, so take the harness's lock):
#   flock /tmp/fips-docker.lock testing/sidecar/scripts/measure-image.sh [ROUNDS] [BASE]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
ROUNDS="${1:-5}"
BASE="${2:-7e83376}"
NET=fips-image-net
PEER=fips-image-peer
# Test keys (testdata/identity.json): NPUB.
# shellcheck source=../../lib/keys.sh
source "$ROOT/testing/lib/keys.sh"
TMP=""

say() { echo "measure-image: $*"; }

cleanup() {
    (cd "$HERE" && docker compose down -v -t 2 >/dev/null 2>&1) || true
    docker rm -f "$PEER" >/dev/null 2>&1 || true
    docker network rm "$NET" >/dev/null 2>&1 || true
    [ -z "$TMP" ] || rm -rf "$TMP"
}

# Today's image, as ./scripts/build.sh makes it.
build_new() {
    say "\$ ./scripts/build.sh"
    (cd "$HERE" && ./scripts/build.sh)
}

# The image of commit BASE: its Dockerfile and entrypoint, and the release
# binaries unstripped, as its build-images.sh copied them.
build_old() {
    say "building fips-sidecar:before from $BASE's docker/Dockerfile and entrypoint"
    git -C "$ROOT" archive "$BASE" docker/Dockerfile docker/entrypoint.sh | tar -x -C "$TMP"
    install -m 0755 "$ROOT/target/release/fips" "$ROOT/target/release/fipsctl" "$TMP/docker/"
    docker build -q -t fips-sidecar:before -f "$TMP/docker/Dockerfile" "$TMP/docker" >/dev/null
}

# The network outlives each round's `compose down` (the peer stays on it);
# compose takes it as its own network fips-net by these labels.
start_peer() {
    docker network create --subnet 172.20.9.0/24 --label com.docker.compose.project=sidecar \
        --label com.docker.compose.network=fips-net "$NET" >/dev/null
    docker run -d --name "$PEER" --network "$NET" --ip 172.20.9.13 --cap-add NET_ADMIN \
        --device /dev/net/tun --sysctl net.ipv6.conf.all.disable_ipv6=0 \
        -v "$ROOT/testing/static/configs/node-d.yaml:/etc/fips/fips.yaml:ro" \
        fips-sidecar:latest fips -c /etc/fips/fips.yaml >/dev/null
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Milliseconds from `docker compose up -d` with image $1 to healthy.
up_to_healthy() {
    printf 'services:\n  fips:\n    image: %s\n' "$1" > "$TMP/image.yml"
    local t0 status
    t0="$(now_ms)"
    (cd "$HERE" && env FIPS_NETWORK="$NET" FIPS_SUBNET=172.20.9.0/24 FIPS_IPV4=172.20.9.20 \
        FIPS_PEER_NPUB="${NPUB[d]}" FIPS_PEER_ADDR=172.20.9.13:4000 FIPS_PEER_ALIAS=node-d \
        docker compose -f docker-compose.yml -f "$TMP/image.yml" up -d >"$TMP/up.log" 2>&1) &
    while :; do
        status="$(docker inspect -f '{{.State.Health.Status}}' fips-sidecar 2>/dev/null || true)"
        [ "$status" = healthy ] && break
        if [ $(($(now_ms) - t0)) -gt 60000 ]; then
            say "$1 not healthy after 60 s" >&2
            cat "$TMP/up.log" >&2
            docker logs --tail 20 fips-sidecar >&2 || true
            return 1
        fi
        sleep 0.05
    done
    echo $(($(now_ms) - t0))
    wait
    (cd "$HERE" && docker compose down -v -t 2 >/dev/null 2>&1) || true
}

# "median (min-max)" of the numbers (ms) given, in seconds.
stats() {
    printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 }
        END { printf "%.2f s (%.2f-%.2f)", v[int((NR + 1) / 2)] / 1000, v[1] / 1000, v[NR] / 1000 }'
}

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

size_mb() { docker image inspect -f '{{.Size}}' "$1" | awk '{ printf "%.1f", $1 / 1e6 }'; }

main() {
    trap cleanup EXIT
    docker info >/dev/null 2>&1 || {
        echo "measure-image: no Docker engine answers; testing/sidecar/scripts/test-sidecar.sh installs and starts one" >&2
        exit 1
    }
    cleanup
    TMP="$(mktemp -d /tmp/fips-measure-image.XXXXXX)"
    build_new
    build_old
    start_peer
    local old=() new=() i
    for ((i = 1; i <= ROUNDS; i++)); do
        old+=("$(up_to_healthy fips-sidecar:before)")
        new+=("$(up_to_healthy fips-sidecar:latest)")
        say "round $i: before ${old[-1]} ms, now ${new[-1]} ms"
    done
    local so sn
    so="$(size_mb fips-sidecar:before)"
    sn="$(size_mb fips-sidecar:latest)"
    echo
    printf '%-34s %10s   %s\n' image "size (MB)" "compose up -d -> healthy, median (min-max) of $ROUNDS"
    printf '%-34s %10s   %s\n' "before ($BASE)" "$so" "$(stats "${old[@]}")"
    printf '%-34s %10s   %s\n' "now (fips-sidecar:latest)" "$sn" "$(stats "${new[@]}")"
    awk -v so="$so" -v sn="$sn" 'BEGIN { printf "%-34s %10.3f\n", "ratio now/before (size)", sn / so }'
    awk -v o="$(median "${old[@]}")" -v n="$(median "${new[@]}")" \
        'BEGIN { printf "%-34s %10s   %.3f\n", "ratio now/before (time)", "", n / o }'
}

main "$@"
