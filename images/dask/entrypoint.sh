#!/usr/bin/env bash
# Entrypoint of the dask image. One compose definition (x-worker) serves every
# worker service: each service sets its own `hostname:`, and "{hostname}" in
# the command is replaced by it here, so worker-2 is named and addressed
# "worker-2" (a stable address across restarts, unlike a container IP).
set -euo pipefail

host="$(hostname)"
args=()
for arg in "$@"; do
    args+=("${arg//\{hostname\}/$host}")
done
exec "${args[@]}"
