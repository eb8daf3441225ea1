#!/usr/bin/env bash
# Build the Garage object store with `cargo install`, once per machine
# (cached under ~/.cache/dasklab/garage-VERSION), and stage the binary in
# build/garage/ for the image build. No registry, no Go, no prebuilt binaries.
set -euo pipefail

cd "$(dirname "$0")/../.."
VERSION="${GARAGE_VERSION:-2.5.0}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/dasklab/garage-$VERSION"
bin="$CACHE/bin/garage"

if [ ! -x "$bin" ]; then
    command -v cargo >/dev/null || {
        echo "[garage] ERROR: cargo is missing; it is needed once to build Garage $VERSION. Install Rust (https://rustup.rs or apt-get install cargo), or choose MinIO: STORE_BACKEND=minio in .env." >&2
        exit 1
    }
    echo "[garage] building Garage $VERSION with cargo: about 8-15 minutes on 2 cores, once per machine ..." >&2
    target="$(mktemp -d)"
    trap 'rm -rf "$target"' EXIT
    start=$SECONDS
    # sqlite (with fsync) is the metadata engine we use; lmdb and k2v are left out
    # to shorten the build. Progress: one line every 50 crates.
    cargo install garage --version "$VERSION" --locked --no-default-features \
        --features bundled-libs,sqlite,metrics --root "$CACHE" --target-dir "$target" 2>&1 \
        | awk '/Compiling/ {n++; if (n % 50 == 0) {printf "[garage]   %d crates compiled\n", n; fflush()}}
               /^error|^warning: build failed/ {print; fflush()}' >&2
    [ -x "$bin" ] || { echo "[garage] ERROR: cargo install failed (see above)" >&2; exit 1; }
    echo "[garage] built in $((SECONDS - start)) s, cached at $bin" >&2
fi
mkdir -p build/garage
cmp -s "$bin" build/garage/garage || cp "$bin" build/garage/garage
