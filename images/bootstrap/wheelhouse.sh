#!/usr/bin/env bash
# Download every locked wheel (images/requirements*.lock, with hashes) into
# build/wheelhouse, once: a stamp named after the locks' hash marks it
# complete, so a second run downloads nothing. Images and the host .venv both
# install from here with --no-index. A complete wheelhouse is also kept under
# ~/.cache/dasklab/wheelhouse-<hash> (as Garage's binary is), so another
# checkout of the same locks (a fresh clone, CI) copies it instead of
# downloading ~270 MB again; the hashes are checked at install either way.
set -euo pipefail

cd "$(dirname "$0")/../.."
out=build/wheelhouse
locks=(images/requirements.lock images/requirements-dev.lock images/requirements-rogue.lock
       images/requirements-build.lock)
hash="$(cat "${locks[@]}" | sha256sum | cut -c1-16)"
stamp="$out/.complete-$hash"
[ -f "$stamp" ] && exit 0
cache="${XDG_CACHE_HOME:-$HOME/.cache}/dasklab/wheelhouse-$hash"
if [ -f "$cache/.complete" ]; then
    mkdir -p "$out"
    cp "$cache"/*.whl "$out"/
    rm -f "$out"/.complete-*
    touch "$stamp"
    echo "[wheelhouse] $(ls "$out"/*.whl | wc -l) wheels copied from the cache ($cache)" >&2
    exit 0
fi

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
# Keep a copy for other checkouts; a failed copy only costs the next one a download.
if mkdir -p "$cache" && cp "$out"/*.whl "$cache"/ 2>/dev/null; then
    touch "$cache/.complete"
else
    rm -rf "$cache"
fi
