"""python3 uv.py WHEELHOUSE LOCK DEST: put the locked uv binary at DEST.

uv installs the lab's wheels in seconds where pip takes minutes. Its wheel is
just a zip holding one binary, so it is unpacked directly (no venv, no pip:
on this engine's storage driver a venv with pip costs ~5 s), after its
sha256 is checked against the hashes of the lock, as `pip --require-hashes`
would. Standard library only: it runs in the bare base image too.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import zipfile
from pathlib import Path


def locked(lock: Path) -> tuple[str, set[str]]:
    """uv's pinned version and its allowed sha256 hashes, from the lock."""
    text = lock.read_text()
    m = re.search(r"^uv==(\S+)((?:\s*\\\s*--hash=sha256:[0-9a-f]{64})+)", text, re.M)
    if not m:
        raise SystemExit(f"[uv] {lock} pins no uv==VERSION with hashes")
    return m.group(1), set(re.findall(r"sha256:([0-9a-f]{64})", m.group(2)))


def main(wheelhouse: str, lock: str, dest: str) -> int:
    version, hashes = locked(Path(lock))
    wheels = sorted(Path(wheelhouse).glob(f"uv-{version}-*manylinux*x86_64*.whl"))
    for wheel in wheels:
        if hashlib.sha256(wheel.read_bytes()).hexdigest() in hashes:
            break
    else:
        raise SystemExit(f"[uv] no wheel of uv {version} with a locked hash in {wheelhouse} "
                         f"(found {[w.name for w in wheels]}); run `make venv`")
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".data/scripts/uv"))
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        Path(dest).write_bytes(z.read(name))
    os.chmod(dest, 0o755)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__.splitlines()[0])
    sys.exit(main(*sys.argv[1:]))
