#!/bin/sh
# Sidecar entrypoint. With arguments, runs them (e.g. `fips -c FILE`).
# Without, the daemon configures itself from the FIPS_* environment variables
# (README: "Environment variables") and validates them itself, so a bad value
# fails here with a message naming the variable.
set -eu
if [ "$#" -gt 0 ]; then
    exec "$@"
fi
# The app shares this network namespace; .fips names resolve through the
# daemon's DNS server on 127.0.0.1:53.
if [ -w /etc/resolv.conf ]; then
    echo "nameserver 127.0.0.1" > /etc/resolv.conf
fi
exec /usr/local/bin/fips
