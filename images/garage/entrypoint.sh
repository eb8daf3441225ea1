#!/usr/bin/env bash
# Entrypoint of the garage image. Garage's layout, access key and buckets can
# only be set through its own RPC once the server runs, so for `garage server`
# this starts the server, runs the idempotent initialisation, marks the node
# ready (the healthcheck looks for the mark) and waits on the server. Any other
# command is exec'd as is.
set -euo pipefail

READY=/tmp/dasklab-initialised
rm -f "$READY"
if [ "${1:-}" != "garage" ] || [ "${2:-}" != "server" ]; then
    exec "$@"
fi

"$@" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null || true' TERM INT
if ! garage-init; then
    echo "[store] initialisation failed; stopping so that Docker restarts the store" >&2
    kill -TERM "$server"
    wait "$server" || true
    exit 1
fi
touch "$READY"
wait "$server"
