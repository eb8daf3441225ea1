"""The lab's settings: the variables of `.env`, their defaults and their checks.

`.env` is what Compose reads for `${VAR}` in docker-compose.yml. `make up`
creates it from the defaults below on first run (`python -m scenarios.settings
init`), then validates it, so a bad value stops everything before a container
starts, with a message naming the variable, the value and a valid example.
Values already in the process environment win over `.env`, as they do for
Compose itself (the tests use that to run a second cluster beside yours).
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
ENV_FILE = ROOT / ".env"


class SettingsError(ValueError):
    """One or more settings are invalid; the message says which and how to fix."""


@dataclass(frozen=True)
class Var:
    name: str
    default: str | Callable[[], str]
    check: Callable[[str], str | None]  # returns a problem, or None if fine
    example: str
    doc: str

    def default_value(self) -> str:
        return self.default() if callable(self.default) else self.default


_MEMORY = re.compile(r"^([0-9]+)(MiB|GiB)$")


def memory_bytes(value: str) -> int:
    """'2GiB' -> 2147483648. Binary units only, because Docker's mem_limit and
    Dask's --memory-limit read them the same way (Docker reads '2g' and '2GB'
    as GiB, Dask reads them as 10**9: the two limits would disagree)."""
    m = _MEMORY.match(value)
    if not m:
        raise ValueError(value)
    return int(m.group(1)) * (2**20 if m.group(2) == "MiB" else 2**30)


def _check_memory(value: str) -> str | None:
    try:
        n = memory_bytes(value)
    except ValueError:
        return "must be a whole number followed by MiB or GiB"
    if n < 512 * 2**20:
        return "must be at least 512MiB (a worker process alone takes ~150 MiB)"
    if n > 16 * 2**30:
        return "must be at most 16GiB (three workers must fit on the machine)"
    return None


def _check_int(lo: int, hi: int) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if not re.fullmatch(r"[0-9]+", value) or not lo <= int(value) <= hi:
            return f"must be a whole number from {lo} to {hi}"
        return None

    return check


def _check_image(value: str) -> str | None:
    if not re.fullmatch(r"[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]+)?", value):
        return "must be an image reference like name/repo:tag"
    return None


def _check_prefix(value: str) -> str | None:
    parts = value.split(".")
    if len(parts) != 3 or not all(p.isdigit() and int(p) < 256 for p in parts):
        return "must be the first three numbers of a /24 network, like 172.29.86"
    a, b = int(parts[0]), int(parts[1])
    private = a == 10 or (a == 172 and 16 <= b <= 31) or (a == 192 and b == 168)
    if not private:
        return "must be in a private range (10.x.x, 172.16-31.x, 192.168.x)"
    return None


VARIABLES: dict[str, Var] = {
    v.name: v
    for v in [
        Var("DASKLAB_IMAGE", "dasklab/dask:local", _check_image, "dasklab/dask:local",
            "The image of the scheduler, the workers and the in-cluster client."),
        Var("WORKER_THREADS", "2", _check_int(1, 32), "2",
            "Threads per worker (dask worker --nthreads)."),
        Var("WORKER_MEMORY", "2GiB", _check_memory, "2GiB",
            "Memory per worker: both Dask's --memory-limit and the container's mem_limit."),
        Var("SCHEDULER_PORT", "8786", _check_int(1024, 65535), "8786",
            "Host port (on 127.0.0.1) of the scheduler."),
        Var("DASHBOARD_PORT", "8787", _check_int(1024, 65535), "8787",
            "Host port (on 127.0.0.1) of the scheduler's dashboard."),
        Var("NETWORK_PREFIX", "172.29.86", _check_prefix, "172.29.86",
            "The cluster network is NETWORK_PREFIX.0/24; fixed addresses keep a "
            "restarted worker at the same address."),
    ]
}


def parse_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise SettingsError(f"{path.name} line {n}: expected NAME=value, got {line!r}")
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def load(path: Path = ENV_FILE, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Settings as Compose sees them: defaults < .env < process environment."""
    environ = os.environ if environ is None else environ
    values = {name: var.default_value() for name, var in VARIABLES.items()
              if not callable(var.default)}
    values.update(parse_env_file(path))
    values.update({k: environ[k] for k in VARIABLES if k in environ})
    return values


def problems(values: dict[str, str]) -> list[str]:
    out = []
    for name, var in VARIABLES.items():
        if name not in values:
            out.append(f"{name} is missing. Example: {name}={var.example}")
            continue
        problem = var.check(values[name])
        if problem:
            out.append(f"{name}={values[name]!r} {problem}. Example: {name}={var.example}")
    ports = [values.get("SCHEDULER_PORT"), values.get("DASHBOARD_PORT")]
    if ports[0] and ports[0] == ports[1]:
        out.append(f"SCHEDULER_PORT and DASHBOARD_PORT are both {ports[0]}; they must differ")
    return out


def validate(values: dict[str, str]) -> dict[str, str]:
    found = problems(values)
    if found:
        raise SettingsError("\n".join(found))
    return values


def init_env_file(path: Path = ENV_FILE) -> list[str]:
    """Append every variable missing from `path` with its default (secrets
    freshly generated). Never rewrites a value that is already there."""
    existing = parse_env_file(path)
    added = [name for name in VARIABLES if name not in existing]
    if added:
        lines = [] if path.exists() else [
            "# Settings of this dasklab checkout (git-ignored). Created by `make up`;",
            "# edit freely, `make up` validates every value. See README, 'Settings'.",
        ]
        for name in added:
            lines.append(f"# {VARIABLES[name].doc}")
            lines.append(f"{name}={VARIABLES[name].default_value()}")
        text = path.read_text() if path.exists() else ""
        if text and not text.endswith("\n"):
            text += "\n"
        path.write_text(text + "\n".join(lines) + "\n")
        path.chmod(0o600)  # it will hold credentials
    return added


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_hex(nbytes)


def main(argv: list[str]) -> int:
    """`init` creates/completes .env then validates; `check` only validates;
    `get NAME` prints one value as Compose would see it."""
    if not argv or argv[0] not in ("init", "check", "get"):
        print("usage: python -m scenarios.settings {init|check|get NAME}", file=sys.stderr)
        return 2
    if argv[0] == "get":
        values = load()
        if len(argv) != 2 or argv[1] not in values:
            print(f"unknown setting; known: {', '.join(values)}", file=sys.stderr)
            return 2
        print(values[argv[1]])
        return 0
    try:
        if argv[0] == "init":
            for name in init_env_file():
                print(f"[settings] .env: added {name}={load()[name] if 'SECRET' not in name else '<generated>'}")
        validate(load())
    except SettingsError as e:
        print(f"[settings] invalid settings in {ENV_FILE.name} (or the environment):", file=sys.stderr)
        for line in str(e).splitlines():
            print(f"  - {line}", file=sys.stderr)
        print("  Fix the value(s) in .env and run the command again; nothing was started.",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
