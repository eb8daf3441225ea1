#!/usr/bin/env bash
# Create .venv (the host-side client and test tools) from the same locks and
# wheelhouse as the images. It uses Debian 12's python3 when there is one: the
# offline base image runs that same 3.11.2, and Dask compares Python versions
# down to the patch level between client and cluster.
set -euo pipefail

cd "$(dirname "$0")/../.."
locks=(images/requirements.lock images/requirements-dev.lock images/requirements-build.lock)
stamp=".venv/.complete-$(cat "${locks[@]}" | sha256sum | cut -c1-16)"
[ -f "$stamp" ] && exit 0

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
    if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "[venv] installing python3-venv (apt-get) ..." >&2
        apt-get install -y -qq python3-venv >&2
    else
        echo "[venv] ERROR: $PYTHON has no venv module. Install it: sudo apt-get install python3-venv" >&2
        exit 1
    fi
fi
start=$SECONDS
if [ ! -x .venv/bin/pip ]; then
    echo "[venv] creating .venv with $PYTHON ($("$PYTHON" --version))" >&2
    rm -rf .venv
    "$PYTHON" -m venv .venv
fi
# The venv's own pip downloads the wheelhouse (Debian's python3 has no pip).
PYTHON=.venv/bin/python bash images/bootstrap/wheelhouse.sh
echo "[venv] installing the locked packages into .venv from build/wheelhouse (uv) ..." >&2
# The locked uv (unpacked from its wheel, hash checked) installs the rest in
# seconds where pip takes a minute, with bytecode compiled: imports stay fast
# even where PYTHONDONTWRITEBYTECODE is set.
"$PYTHON" images/bootstrap/uv.py build/wheelhouse images/requirements-build.lock .venv/bin/uv
.venv/bin/uv pip install -q --python .venv/bin/python --offline --no-index --compile-bytecode \
    --find-links build/wheelhouse --require-hashes \
    -r images/requirements.lock -r images/requirements-dev.lock
rm -f .venv/.complete-*
touch "$stamp"
echo "[venv] ready in $((SECONDS - start)) s" >&2
