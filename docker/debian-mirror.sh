#!/usr/bin/env bash
# Prints the Debian archive this machine's apt is configured with (the URI
# of the source that serves the host's own release, e.g. bookworm), so the
# scripts that need a Debian mirror (debootstrap of the base image, the
# pinned trixie source for Docker Engine) follow the machine's configuration
# instead of naming a host. DEBIAN_MIRROR overrides it.
# Usage: docker/debian-mirror.sh   (exit 1, with the fix, when none is found)
set -euo pipefail

if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; exit 0; fi
codename="$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")"
codename="${codename:-bookworm}"

# deb822 files: the first stanza whose Suites list the release itself.
deb822() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -e "$f" ] || continue
        case "$(basename "$f")" in fips-*) continue ;; esac
        awk -v want="$codename" '
            function flush() { if (uri != "" && ok) { print uri; found = 1; exit } uri = ""; ok = 0 }
            /^[[:space:]]*$/ { flush(); next }
            /^URIs:/ { uri = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == want) ok = 1 }
            END { if (!found) flush() }' "$f"
    done
}

# One-line format: "deb [options] URI suite components".
one_line() {
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk -v want="$codename" '$1 == "deb" {
            i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
            if ($(i + 1) == want) { print $i; exit } }'
}

mirror="$(deb822 | head -n 1)"
[ -n "$mirror" ] || mirror="$(one_line | head -n 1)"
if [ -z "$mirror" ]; then
    echo "debian-mirror: no apt source for Debian $codename in /etc/apt/sources.list or /etc/apt/sources.list.d;" >&2
    echo "debian-mirror: set DEBIAN_MIRROR to the Debian archive URI to use" >&2
    exit 1
fi
echo "$mirror"
