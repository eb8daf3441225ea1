#!/usr/bin/env bash
# Entrypoint of the dask image. One compose definition (x-worker) serves every
# worker service: each service sets its own `hostname:`, and "{hostname}" in
# the command is replaced by it here, so worker-2 is named and addressed
# "worker-2" (a stable address across restarts, unlike a container IP).
#
# DASKLAB_TLS=on (set by compose/tls.yml) turns the command's tcp:// addresses
# and --protocol=tcp into tls: the overlay switches the scheme without a second
# copy of every command, which could drift from docker-compose.yml.
set -euo pipefail

host="$(hostname)"
args=()
for arg in "$@"; do
    arg="${arg//\{hostname\}/$host}"
    if [ "${DASKLAB_TLS:-off}" = on ]; then
        arg="${arg//tcp:\/\//tls://}"
        [ "$arg" = --protocol=tcp ] && arg=--protocol=tls
    fi
    args+=("$arg")
done
exec "${args[@]}"
