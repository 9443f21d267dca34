#!/usr/bin/env bash
# Fills docker/rootfs/, the whole file system of the sidecar image (its
# Dockerfile is FROM scratch), from a release build of fips and fipsctl:
#
#   usr/local/bin/fips, fipsctl   stripped of debug info (symbols kept, so a
#                                 backtrace still names functions); the
#                                 debug info goes to target/release/*.debug,
#                                 beside the build, and each binary names its
#                                 file in .gnu_debuglink (gdb, eu-stack find it)
#   usr/local/bin/fips-entrypoint docker/entrypoint.sh
#   usr/bin/getent                glibc's, for the entrypoint's lookup of a
#                                 peer host name (same resolver code as before)
#   lib*/...                      the shared libraries these three link, copied
#                                 from this machine (the ones they were built
#                                 against), found with ldd
#   bin/busybox + a few links     the static busybox of Debian's busybox-static
#                                 (fetched with `apt-get download`, never
#                                 installed on this machine): the entrypoint's
#                                 /bin/sh and awk, and sh, cat, grep, pidof,
#                                 kill, ps for `docker exec`. FIPS_BUSYBOX=PATH
#                                 takes a static busybox from elsewhere.
#   etc/nsswitch.conf             hosts: files dns, as Debian has it
#
# Usage: docker/stage-rootfs.sh   (from anywhere; after cargo build --release -p fips)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REL="$ROOT/target/release"
OUT="$ROOT/docker/rootfs"
APPLETS="sh awk cat grep kill pidof sleep ps ls"

say() { echo "stage-rootfs: $*"; }
die() { echo "stage-rootfs: $*" >&2; exit 1; }

# Keeps the debug info of target/release/$1 in $1.debug and writes the
# stripped binary, pointing at that file, into the image.
split_debug() {
    local bin="$REL/$1"
    [ -x "$bin" ] || die "$bin is missing: run cargo build --release -p fips first"
    objcopy --only-keep-debug "$bin" "$bin.debug"
    objcopy --strip-debug --add-gnu-debuglink="$bin.debug" "$bin" "$OUT/usr/local/bin/$1"
}

# Copies every shared library (and the loader) the given programs link.
copy_libs() {
    local lib
    for lib in $(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }
                                  $1 ~ /^\// && $2 ~ /^\(/ { print $1 }' | sort -u); do
        mkdir -p "$OUT$(dirname "$lib")"
        cp -L "$lib" "$OUT$lib"
    done
}

# Prints the path of a static busybox: FIPS_BUSYBOX, else the one in
# Debian's busybox-static package, downloaded once into target/image-deps.
busybox_path() {
    if [ -n "${FIPS_BUSYBOX:-}" ]; then echo "$FIPS_BUSYBOX"; return; fi
    local dir="$ROOT/target/image-deps" deb
    mkdir -p "$dir"
    deb="$(ls "$dir"/busybox-static_*.deb 2>/dev/null | tail -n 1)"
    if [ -z "$deb" ]; then
        say "downloading Debian package busybox-static (apt-get download; not installed)" >&2
        (cd "$dir" && { apt-get download -qq busybox-static 2>/dev/null \
            || { apt-get update -qq && apt-get download -qq busybox-static 2>/dev/null; }; }) \
            || die "apt-get download busybox-static failed; set FIPS_BUSYBOX to a static busybox binary"
        deb="$(ls "$dir"/busybox-static_*.deb | tail -n 1)"
    fi
    rm -rf "$dir/busybox-static" && dpkg-deb -x "$deb" "$dir/busybox-static"
    echo "$dir/busybox-static/bin/busybox"
}

stage_busybox() {
    local bb a
    bb="$(busybox_path)"
    [ -x "$bb" ] || die "$bb is not an executable busybox"
    # A dynamic busybox would need libraries the image may not have.
    if readelf -l "$bb" | grep -q INTERP; then die "$bb is not statically linked"; fi
    install -m 0755 "$bb" "$OUT/bin/busybox"
    for a in $APPLETS; do ln -s busybox "$OUT/bin/$a"; done
}

command -v objcopy >/dev/null || die "objcopy is missing: install the Debian package binutils"
rm -rf "$OUT"
mkdir -p "$OUT/usr/local/bin" "$OUT/usr/bin" "$OUT/bin" "$OUT/etc" "$OUT/tmp" \
    "$OUT/run/fips" "$OUT/var/lib/fips" "$OUT/etc/fips"
chmod 1777 "$OUT/tmp"
chmod 0750 "$OUT/run/fips" "$OUT/var/lib/fips"
split_debug fips
split_debug fipsctl
install -m 0755 "$ROOT/docker/entrypoint.sh" "$OUT/usr/local/bin/fips-entrypoint"
install -m 0755 "$(command -v getent)" "$OUT/usr/bin/getent"
copy_libs "$OUT/usr/local/bin/fips" "$OUT/usr/local/bin/fipsctl" "$OUT/usr/bin/getent"
stage_busybox
echo "hosts: files dns" > "$OUT/etc/nsswitch.conf"
say "rootfs $(du -sh "$OUT" | cut -f1); debug info in $REL/fips.debug and $REL/fipsctl.debug"
