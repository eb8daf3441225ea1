#!/usr/bin/env bash
# Idempotent single-node initialisation: layout, the lab's two access keys,
# its two buckets and their permissions. Safe on every start: each step checks first.
#   admin key (the host's): owner of both buckets.
#   workers' key: read-write on the lab's bucket, read-only on <bucket>-ref.
# Garage's permissions are per key and bucket (no prefixes, no policies),
# hence a second bucket for what workers may read but never change.
set -euo pipefail

say() { echo "[store-init] $*" >&2; }
: "${AWS_ACCESS_KEY_ID:?}" "${AWS_SECRET_ACCESS_KEY:?}" "${DASKLAB_BUCKET:?}"
: "${S3_WORKER_KEY_ID:?}" "${S3_WORKER_SECRET:?}"
REF_BUCKET="$DASKLAB_BUCKET-ref"
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
import_key() {  # name id secret
    if ! garage key info "$2" >/dev/null 2>&1; then
        say "importing access key $2 ($1)"
        garage key import --yes -n "$1" "$2" "$3" >/dev/null
    fi
}
import_key dasklab "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
import_key dasklab-workers "$S3_WORKER_KEY_ID" "$S3_WORKER_SECRET"
for bucket in "$DASKLAB_BUCKET" "$REF_BUCKET"; do
    if ! garage bucket info "$bucket" >/dev/null 2>&1; then
        say "creating bucket $bucket"
        garage bucket create "$bucket" >/dev/null
    fi
    garage bucket allow --read --write --owner "$bucket" --key "$AWS_ACCESS_KEY_ID" >/dev/null
done
garage bucket allow --read --write "$DASKLAB_BUCKET" --key "$S3_WORKER_KEY_ID" >/dev/null
garage bucket allow --read "$REF_BUCKET" --key "$S3_WORKER_KEY_ID" >/dev/null
# Permissions only ever added above: take back a write a key must not have.
garage bucket deny --write --owner "$REF_BUCKET" --key "$S3_WORKER_KEY_ID" >/dev/null
say "ready: buckets $DASKLAB_BUCKET (workers read-write) and $REF_BUCKET (workers read-only)"
