#!/usr/bin/env bash
# STORE_BACKEND=minio: the MinIO image cannot be built here (it needs Go and
# the Go module proxy), so it must already be in the engine. Say how to get it.
set -euo pipefail
image="$(.venv/bin/python -m dasklab.settings get MINIO_IMAGE)"
if docker image inspect "$image" >/dev/null 2>&1; then
    echo "[images] using MinIO image $image" >&2; exit 0
fi
if timeout 300 docker pull "$image" >&2 2>/dev/null; then exit 0; fi
echo "[images] ERROR: STORE_BACKEND=minio but the image $image is not present and cannot be pulled." >&2
echo "         Load it (docker load -i minio.tar) or set MINIO_IMAGE to one you have, or use STORE_BACKEND=garage." >&2
exit 1
