#!/usr/bin/env bash
# Download every locked wheel (images/requirements*.lock, with hashes) into
# build/wheelhouse, once: a stamp named after the locks' hash marks it
# complete, so a second run downloads nothing. Images and the host .venv both
# install from here with --no-index.
set -euo pipefail

cd "$(dirname "$0")/../.."
out=build/wheelhouse
locks=(images/requirements.lock images/requirements-dev.lock images/requirements-rogue.lock
       images/requirements-build.lock)
stamp="$out/.complete-$(cat "${locks[@]}" | sha256sum | cut -c1-16)"
[ -f "$stamp" ] && exit 0

PYTHON="${PYTHON:-python3}"
mkdir -p "$out"
echo "[wheelhouse] downloading locked wheels for CPython 3.11 / manylinux x86_64 (~170 MB) ..." >&2
start=$SECONDS
for lock in "${locks[@]}"; do
    "$PYTHON" -m pip download --disable-pip-version-check --progress-bar off -q \
        --only-binary=:all: --python-version 3.11 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 \
        --require-hashes -r "$lock" -d "$out"
done
rm -f "$out"/.complete-*
touch "$stamp"
echo "[wheelhouse] $(ls "$out"/*.whl | wc -l) wheels, $(du -sh "$out" | cut -f1), in $((SECONDS - start)) s" >&2
