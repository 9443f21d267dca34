#!/usr/bin/env bash
# Compiles FIPS, copies the binaries into the Docker context, and builds the
# images (fips-sidecar:latest, fips-app:latest). See docker/build-images.sh.
set -euo pipefail
exec "$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/docker/build-images.sh" "$@"
