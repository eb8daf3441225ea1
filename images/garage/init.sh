#!/usr/bin/env bash
# Idempotent single-node initialisation: layout, the lab's access key, its
# bucket and permissions. Safe on every start: each step checks first.
set -euo pipefail

say() { echo "[store-init] $*" >&2; }
: "${AWS_ACCESS_KEY_ID:?}" "${AWS_SECRET_ACCESS_KEY:?}" "${DASKLAB_BUCKET:?}"
CAPACITY="${GARAGE_CAPACITY:-10G}"

for _ in $(seq 120); do
    garage status >/dev/null 2>&1 && break
    sleep 0.25
done
garage status >/dev/null || { say "the garage server did not answer within 30 s"; exit 1; }

if garage layout show 2>/dev/null | grep -q "Current cluster layout version: 0"; then
    node="$(garage node id -q 2>/dev/null | cut -d@ -f1)"
    say "assigning layout to node ${node:0:16} (capacity $CAPACITY)"
    garage layout assign -z dc1 -c "$CAPACITY" "$node" >/dev/null
    garage layout apply --version 1 >/dev/null
fi
if ! garage key info "$AWS_ACCESS_KEY_ID" >/dev/null 2>&1; then
    say "importing access key $AWS_ACCESS_KEY_ID"
    garage key import --yes -n dasklab "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >/dev/null
fi
if ! garage bucket info "$DASKLAB_BUCKET" >/dev/null 2>&1; then
    say "creating bucket $DASKLAB_BUCKET"
    garage bucket create "$DASKLAB_BUCKET" >/dev/null
fi
garage bucket allow --read --write --owner "$DASKLAB_BUCKET" --key "$AWS_ACCESS_KEY_ID" >/dev/null
say "ready: bucket $DASKLAB_BUCKET, key $AWS_ACCESS_KEY_ID"
