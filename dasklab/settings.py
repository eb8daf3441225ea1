"""The lab's settings: the variables of `.env`, their defaults and their checks.

`.env` is what Compose reads for `${VAR}` in docker-compose.yml. `make up`
creates it from the defaults below on first run (`python -m dasklab.settings
init`), then validates it, so a bad value stops everything before a container
starts, with a message naming the variable, the value and a valid example.
Values already in the process environment win over `.env`, as they do for
Compose itself (the tests use that to run a second cluster beside yours).
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

# pip options for the cluster's own package index (the `wheels` service), as
# used inside containers: PipInstall in the environment scenario, debugpy in
# the debugging one. Plain HTTP on the cluster network, hence trusted-host.
WHEELS_INDEX = ["--no-index", "--find-links", "http://wheels:8080/", "--trusted-host", "wheels"]

ROOT = Path(__file__).resolve().parents[1]
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
    secret: bool = False  # generated on first run; never printed

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


def _check_hex(n: int, prefix: str = "") -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if not re.fullmatch(prefix + f"[0-9a-f]{{{n}}}", value):
            return (f"must be {prefix!r} followed by " if prefix else "must be ") + \
                f"{n} lowercase hex digits (delete the line and `make up` generates one)"
        return None

    return check


def _check_choice(*choices: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


def _check_bucket(value: str) -> str | None:
    # 59, not S3's 63: the reference bucket is named "<bucket>-ref".
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,57}[a-z0-9]", value):
        return "must be 3-59 lowercase letters, digits or hyphens"
    return None


def _check_price(value: str) -> str | None:
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", value):
        return "must be a price like 0.048 (a dot for decimals, no currency sign)"
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
        Var("NOTEBOOK_PORT", "8888", _check_int(1024, 65535), "8888",
            "Host port (on 127.0.0.1) of JupyterLab (`make notebook`)."),
        Var("NETWORK_PREFIX", "172.29.86", _check_prefix, "172.29.86",
            "The cluster network is NETWORK_PREFIX.0/24; fixed addresses keep a "
            "restarted worker at the same address."),
        Var("STORE_BACKEND", "garage", _check_choice("garage", "minio"), "garage",
            "Object store: garage (built here with cargo install) or minio (needs MINIO_IMAGE locally)."),
        Var("MINIO_IMAGE", "minio/minio:latest", _check_image, "minio/minio:latest",
            "The MinIO image used when STORE_BACKEND=minio (pull or load it yourself)."),
        Var("S3_PORT", "9000", _check_int(1024, 65535), "9000",
            "Host port (on 127.0.0.1) of the object store's S3 API."),
        Var("DASKLAB_BUCKET", "dasklab", _check_bucket, "dasklab",
            "The bucket the scenarios read and write."),
        Var("AWS_ACCESS_KEY_ID", lambda: "GK" + new_secret(12), _check_hex(24, "GK"),
            "GK0123456789abcdef01234567", "S3 access key id (generated; Garage's key format).",
            secret=True),
        Var("AWS_SECRET_ACCESS_KEY", lambda: new_secret(32), _check_hex(64), "<64 hex digits>",
            "S3 secret key (generated).", secret=True),
        Var("S3_WORKER_KEY_ID", lambda: "GK" + new_secret(12), _check_hex(24, "GK"),
            "GK0123456789abcdef01234567", "The workers' own S3 key id: read-write on "
            "DASKLAB_BUCKET, read-only on DASKLAB_BUCKET-ref (generated).", secret=True),
        Var("S3_WORKER_SECRET", lambda: new_secret(32), _check_hex(64), "<64 hex digits>",
            "The workers' S3 secret key (generated).", secret=True),
        Var("TLS", "off", _check_choice("off", "on"), "off",
            "on: mutual TLS between scheduler, nannies, workers and clients (compose/tls.yml; "
            "`make up` makes the certificates under build/certs). See README, 'Security'."),
        Var("FAILOVER", "default", _check_choice("default", "fast"), "default",
            "fast: Dask gives up on a frozen, cut-off or lost peer within seconds instead of "
            "30-60 s (compose/fast-failover.yml; docs/scenarios.md, 'Choosing timeouts')."),
        # Roughly a general-purpose cloud VM's on-demand price split into its
        # two meters (a 4-core 16 GiB VM at about 0.19 per hour); set your own.
        Var("PRICE_CORE_HOUR", "0.032", _check_price, "0.032",
            "Price of one core for one hour, for `make scenario-costs` (any currency)."),
        Var("PRICE_GIB_HOUR", "0.004", _check_price, "0.004",
            "Price of one GiB of memory for one hour, for `make scenario-costs`."),
        Var("COST_CENTER", "dasklab", _check_bucket, "team-ml",
            "Label dasklab.cost-center on every container (docker ps --filter label=...)."),
        Var("GARAGE_RPC_SECRET", lambda: new_secret(32), _check_hex(64), "<64 hex digits>",
            "Garage's RPC secret (generated).", secret=True),
        Var("GARAGE_ADMIN_TOKEN", lambda: new_secret(32), _check_hex(64), "<64 hex digits>",
            "Garage's admin API token (generated).", secret=True),
    ]
}

REGION = "garage"  # compose/garage.toml's s3_region; S3 clients must use it
CERTS = ROOT / "build" / "certs"  # `make certs`; the overlay mounts from here


@functools.lru_cache
def named_workers(compose_file: Path = ROOT / "docker-compose.yml") -> tuple[str, ...]:
    """The named worker services of the compose file (worker-1, worker-2, ...),
    in number order: what scenarios and tests wait for, read from the one
    place that defines them. Call it where it is used, not at import: scenario
    modules are imported on the workers too, where no compose file is."""
    import yaml

    services = yaml.safe_load(compose_file.read_text())["services"]
    return tuple(sorted((s for s in services if re.fullmatch(r"worker-\d+", s)),
                        key=lambda s: int(s.split("-")[1])))


def compose_files(values: dict[str, str], rogue: bool = False) -> list[str]:
    """The base file plus one overlay per concern the settings switch on;
    `rogue` adds the drifted worker (the environment scenario), in TLS too."""
    tls = values.get("TLS", "off") == "on"
    files = ["docker-compose.yml"]
    if values.get("STORE_BACKEND", "garage") == "minio":
        files.append("compose/minio.yml")
    if tls:
        files.append("compose/tls.yml")
    if values.get("FAILOVER", "default") == "fast":
        files.append(FAST_FAILOVER)
    if rogue:
        files += ["compose/rogue-worker.yml"] + (["compose/rogue-worker-tls.yml"] if tls else [])
    return files


@contextmanager
def environment(values: dict[str, str]):
    """This process's environment with `values` set (settings of a second
    cluster, say), each put back as it was on the way out."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield values
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


FAST_FAILOVER = "compose/fast-failover.yml"


def failover_config(values: dict[str, str]) -> dict[str, str]:
    """The Dask settings FAILOVER=fast gives every container, as the
    DASK_DISTRIBUTED__... variables of compose/fast-failover.yml (the one
    place they are written): the host client applies the same ones."""
    if values.get("FAILOVER", "default") != "fast":
        return {}
    import yaml

    return dict(yaml.safe_load((ROOT / FAST_FAILOVER).read_text())["x-fast-failover"])


def reference_bucket(values: dict[str, str]) -> str:
    """Filled by the admin key, read-only for the workers' key."""
    return values["DASKLAB_BUCKET"] + "-ref"


def host_s3_env(values: dict[str, str]) -> dict[str, str]:
    """The standard variables botocore, s3fs and pandas read, for a process on
    the host (the containers get the same names with http://store:9000)."""
    return {
        "AWS_ACCESS_KEY_ID": values["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": values["AWS_SECRET_ACCESS_KEY"],
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{values['S3_PORT']}",
        # botocore >= 1.36 sends CRC checksums by default; non-AWS stores need these.
        "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
        "DASKLAB_BUCKET": values["DASKLAB_BUCKET"],
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
              if not var.secret}
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
    ports = {}
    for name in ("SCHEDULER_PORT", "DASHBOARD_PORT", "S3_PORT", "NOTEBOOK_PORT"):
        if values.get(name):
            ports.setdefault(values[name], []).append(name)
    for port, names in ports.items():
        if len(names) > 1:
            out.append(f"{' and '.join(names)} are all {port}; they must differ")
    return out


# Settings that choose the Compose files. `docker compose` (typed by hand, as
# in `docker compose kill worker-2`) and every later command read them from
# .env (COMPOSE_FILE there is derived from them), so one given only in the
# environment would half-apply: a TLS client against a plain cluster, say.
SHAPE = ("TLS", "STORE_BACKEND", "FAILOVER")


def environment_conflicts(path: Path = ENV_FILE, environ: dict[str, str] | None = None) -> list[str]:
    """Problems with settings given in the environment instead of `.env`:
    those in SHAPE must agree with `.env` (each named with the fix). The
    others (ports, memory, ...) take effect for Compose and the client alike."""
    environ = os.environ if environ is None else environ
    in_file = parse_env_file(path)
    out = []
    for name in SHAPE:
        if name in environ:
            current = in_file.get(name, VARIABLES[name].default_value())
            if environ[name] != current:
                out.append(
                    f"{name}={environ[name]} is set in the environment, but .env says "
                    f"{name}={current}. The cluster's Compose files (COMPOSE_FILE in .env, read "
                    "by plain `docker compose` too) and every later command follow .env, so it "
                    f"would only half apply.\n    Fix: set it in .env (sed -i "
                    f"'s/^{name}=.*/{name}={environ[name]}/' .env) and run the command without "
                    f"it in the environment (unset {name}).")
    return out


def validate(values: dict[str, str]) -> dict[str, str]:
    found = problems(values)
    if found:
        raise SettingsError("\n".join(found))
    return values


def init_env_file(path: Path = ENV_FILE) -> list[str]:
    """Append every variable missing from `path` with its default (secrets
    freshly generated). Never rewrites a value that is already there, except
    the derived COMPOSE_FILE line, kept in step with STORE_BACKEND, TLS and FAILOVER."""
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
        path.chmod(0o600)  # it holds credentials
    _sync_compose_file(path)
    return added


def _sync_compose_file(path: Path) -> None:
    """Compose itself reads COMPOSE_FILE from .env, so plain `docker compose
    kill worker-2` uses the same files (base + overlays) as `make up`."""
    values = parse_env_file(path)
    wanted = ":".join(compose_files(values))
    if values.get("COMPOSE_FILE") == wanted:
        return
    keep = [l for l in path.read_text().splitlines()
            if not l.startswith("COMPOSE_FILE=") and "derived from STORE_BACKEND" not in l]
    keep += ["# Compose files, derived from STORE_BACKEND, TLS and FAILOVER by `make up` (do not edit).",
             f"COMPOSE_FILE={wanted}"]
    path.write_text("\n".join(keep) + "\n")


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_hex(nbytes)


def main(argv: list[str]) -> int:
    """`init` creates/completes .env then validates; `check` only validates;
    `get NAME` prints one value as Compose would see it."""
    if not argv or argv[0] not in ("init", "check", "get", "s3-env"):
        print("usage: python -m dasklab.settings {init|check|get NAME|s3-env}", file=sys.stderr)
        return 2
    if argv[0] == "s3-env":
        for key, value in host_s3_env(validate(load())).items():
            print(f"export {key}={value}")
        return 0
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
                shown = "<generated>" if VARIABLES[name].secret else load()[name]
                print(f"[settings] .env: added {name}={shown}")
        conflicts = environment_conflicts()
        if conflicts:
            raise SettingsError("\n".join(conflicts))
        validate(load())
    except SettingsError as e:
        print(f"[settings] invalid settings in {ENV_FILE.name} (or the environment):", file=sys.stderr)
        for line in str(e).splitlines():
            print(line if line.startswith(" ") else f"  - {line}", file=sys.stderr)
        print("  Fix the value(s) in .env and run the command again; nothing was started.",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
