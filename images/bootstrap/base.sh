#!/usr/bin/env bash
# Print the name of a usable base image, creating one if needed.
#
# Online users get the official image named by BASE_IMAGE (pulled if absent).
# Offline machines (no registry) get a Debian 12 image bootstrapped from the
# host's own apt sources with mmdebstrap and turned into an image with
# `docker import`. Progress goes to stderr; only the image name goes to stdout,
# so the Makefile can capture it.
set -euo pipefail

BASE_IMAGE="${BASE_IMAGE:-python:3.11-slim-bookworm}"
LOCAL_BASE="${LOCAL_BASE:-dasklab/base:bookworm-1}"
# Packages the dask and garage images need from the OS; python3 is Debian 12's
# 3.11.2, the same interpreter the host's .venv uses (see README, "Versions").
PACKAGES="python3,python3-venv,ca-certificates,tini,procps"

say() { echo "[base] $*" >&2; }

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

if have_image "$BASE_IMAGE"; then
    echo "$BASE_IMAGE"; exit 0
fi
if have_image "$LOCAL_BASE"; then
    echo "$LOCAL_BASE"; exit 0
fi
if [ "${DASKLAB_OFFLINE:-auto}" != "1" ]; then
    say "trying to pull $BASE_IMAGE ..."
    if timeout 300 docker pull "$BASE_IMAGE" >&2 2>/dev/null; then
        echo "$BASE_IMAGE"; exit 0
    fi
    say "cannot pull $BASE_IMAGE (no registry access); bootstrapping $LOCAL_BASE from the host's apt sources"
fi

if ! command -v mmdebstrap >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing mmdebstrap (apt-get) ..."
        apt-get install -y --no-install-recommends mmdebstrap >&2 \
            || { apt-get update >&2 && apt-get install -y --no-install-recommends mmdebstrap >&2; }
    else
        say "ERROR: mmdebstrap is missing. Install it (sudo apt-get install mmdebstrap) or make $BASE_IMAGE available (docker pull / docker load)."
        exit 1
    fi
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
say "mmdebstrap bookworm (minbase + $PACKAGES); this takes about 20-60 s ..."
start=$SECONDS
# No mirror argument: mmdebstrap then uses the host's own apt sources.
mmdebstrap --quiet --variant=minbase --include="$PACKAGES" \
    --customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*' \
    bookworm "$tmp/rootfs.tar" >&2
say "importing as $LOCAL_BASE ..."
docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    "$tmp/rootfs.tar" "$LOCAL_BASE" >/dev/null
say "base image ready in $((SECONDS - start)) s"
echo "$LOCAL_BASE"
