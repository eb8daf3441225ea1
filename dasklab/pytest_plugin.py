"""pytest plugin: test your own Dask code on a real lab cluster.

Installed with dasklab (the `pytest11` entry point in pyproject.toml), so a
project that installed dasklab gets it with no conftest to copy:

  dasklab         (session) the Lab: the running `make up` cluster, or a fresh,
                  throwaway one on free ports and a project of its own,
                  removed with its volumes afterwards
  dasklab_client  a Client of the test's own, closed after it; the test fails
                  when it left the cluster changed (tasks, plugins, workers)
  nemesis         the lab's faults (kill, pause, disconnect, wipe...) on that
                  cluster; every fault is healed at teardown, even on failure
  chaos           chaos(job, seed=1, duration=30, faults=...) runs a
                  dasklab.chaos.Job under a seeded schedule of faults and
                  returns the Verdict (ok, outcome, output, schedule, evidence)

Options: --dasklab=running|fresh (default: running when one answers, else
fresh); for a fresh cluster --dasklab-workers N (1-3 of the compose file's
named workers), --dasklab-threads, --dasklab-memory.

Your own code reaches the cluster while a test runs: every package imported
from under pytest's rootdir is zipped and uploaded (client.upload_file) to
the scheduler and the workers, so they need nothing installed. Put the
functions your tasks run in your package, not in a test file.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest


def pytest_addoption(parser) -> None:
    g = parser.getgroup("dasklab", "a real Dask cluster in Docker Compose (dasklab)")
    g.addoption("--dasklab", choices=("running", "fresh"), default=None,
                help="the `make up` cluster (running) or a throwaway one (fresh); "
                     "default: running when one answers, else fresh")
    g.addoption("--dasklab-workers", type=int, default=None,
                help="fresh cluster: how many named workers (1-3, default 3)")
    g.addoption("--dasklab-threads", type=int, default=None,
                help="fresh cluster: threads per worker (default: WORKER_THREADS)")
    g.addoption("--dasklab-memory", default=None,
                help="fresh cluster: memory per worker, e.g. 1GiB (default: WORKER_MEMORY)")


def _say(text: str) -> None:
    print(f"[dasklab] {text}", file=sys.stderr, flush=True)


def _running(required: bool):
    """The lab cluster that answers now, or None (when not `required`)."""
    from .connect import ClusterDown, open_lab, scheduler_address
    from .settings import ROOT, SettingsError, load

    try:
        lab = open_lab()
    except (ClusterDown, SettingsError, OSError) as e:
        if required:
            pytest.fail(f"--dasklab=running: no lab cluster answers at "
                        f"{scheduler_address(load())} ({str(e).splitlines()[0]}).\n"
                        f"Fix: `make up` in {ROOT}, or --dasklab=fresh for a throwaway one.",
                        pytrace=False)
        return None
    _say(f"using the running cluster {lab.compose.project!r} at "
         f"{scheduler_address(lab.settings)}")
    return lab


def _fresh_problems(values: dict[str, str]) -> list[str]:
    from .backends.compose.preflight import engine_problems, images_present
    from .settings import ENV_FILE, ROOT

    found = engine_problems()
    if found:
        return found
    if not ENV_FILE.exists():
        return [f"{ENV_FILE} does not exist.\n    Fix: `make up` (or `make env`) once in {ROOT}."]
    if not images_present(values):
        return [f"the lab's images ({values['DASKLAB_IMAGE']}, the store's) are not built.\n"
                f"    Fix: `make images` (or `make up`) once in {ROOT}."]
    return []


@contextmanager
def _fresh(config):
    from .backends.compose.preflight import free_prefix
    from .backends.compose.project import Compose, side_env
    from .connect import open_lab
    from .evidence import save_compose
    from .settings import ROOT, compose_files, environment, load, named_workers

    values = load()
    problems = _fresh_problems(values)
    if problems:
        pytest.fail("dasklab cannot start a fresh cluster: " + "\n".join(problems), pytrace=False)
    count = config.getoption("--dasklab-workers") or len(named_workers())
    if not 1 <= count <= len(named_workers()):
        raise pytest.UsageError(f"--dasklab-workers={count}: choose 1 to {len(named_workers())} "
                                "(the named workers of docker-compose.yml)")
    project = f"dasklab-pytest-{os.getpid()}"
    env = {**side_env(free_prefix()), "DASKLAB_PROJECT": project}
    if config.getoption("--dasklab-threads"):
        env["WORKER_THREADS"] = str(config.getoption("--dasklab-threads"))
    if config.getoption("--dasklab-memory"):
        env["WORKER_MEMORY"] = config.getoption("--dasklab-memory")
    with environment(env):
        compose = Compose(project=project, files=tuple(compose_files(load())))
        services = [s for s in compose.run("config", "--services").stdout.split()
                    if s not in named_workers()] + list(named_workers()[:count])
        _say(f"starting a fresh cluster {project!r} ({count} workers, network "
             f"{env['NETWORK_PREFIX']}.0/24, scheduler on 127.0.0.1:{env['SCHEDULER_PORT']}) ...")
        lab = None
        try:
            compose.up(*services, timeout=420)
            lab = open_lab(project=project)
            lab.wait_for_workers(set(named_workers()[:count]), timeout=120)
            yield lab
        except BaseException:
            folder = ROOT / "evidence" / project
            save_compose(compose, folder)
            _say(f"the fresh cluster's state is saved in {folder}")
            raise
        finally:
            if lab is not None:
                lab.close()
            compose.run("down", "-v", "--remove-orphans", "--timeout", "10", check=False)
            _say(f"removed the fresh cluster {project!r} with its volumes")


@pytest.fixture(scope="session")
def dasklab(request):
    mode = request.config.getoption("--dasklab")
    lab = _running(required=mode == "running") if mode != "fresh" else None
    if lab is not None:
        yield lab
        lab.close()
        return
    with _fresh(request.config) as lab:
        yield lab


def own_code(rootpath: Path) -> dict[str, str]:
    """{top-level name: directory or file} of the packages and modules
    imported from under `rootpath` (your project), but test modules and
    conftest (they import pytest, which the workers lack), installed packages
    and the lab's own (the workers have those)."""
    found = {}
    root, env = rootpath.resolve(), Path(sys.prefix).resolve()
    for name, module in list(sys.modules.items()):
        top = name.split(".")[0]
        path = getattr(module, "__file__", None) if module is not None else None
        if (not path or not path.endswith(".py") or top in found
                or top in ("__main__", "dasklab", "scenarios", "conftest")
                or top.startswith("test_") or top.endswith("_test")
                or not Path(path).resolve().is_relative_to(root)
                # a virtual environment inside the project: installed, not yours
                or Path(path).resolve().is_relative_to(env) or "site-packages" in path):
            continue
        from .code import package_of

        found.update(package_of(top))
    return found


@pytest.fixture
def dasklab_client(dasklab, request):
    from . import isolation
    from .code import shipped
    from .connect import connect, scheduler_address

    before = isolation.snapshot(dasklab, docker=False)
    client = connect(scheduler_address(dasklab.settings))
    try:
        with shipped(dasklab, own_code(request.config.rootpath)):
            yield client
    finally:
        client.close()
    left = isolation.after_test(dasklab, before)
    if left:
        pytest.fail(f"{request.node.nodeid} left the cluster changed: " + "; ".join(left),
                    pytrace=False)


@pytest.fixture
def nemesis(dasklab, dasklab_client):
    """Faults on the cluster; healed at teardown (before the client's check)."""
    from .faults import Nemesis

    workers = set(dasklab.workers_by_name())
    faults = Nemesis(dasklab.resources)
    yield faults
    healed = faults.heal_all()
    if healed:
        _say(f"healed at teardown: {', '.join(healed)}")
    dasklab.wait_for_workers(workers, timeout=120)


@pytest.fixture
def chaos(dasklab, dasklab_client, request):
    """chaos(job, seed=1, duration=30, faults=KINDS, hold=(2, 6), rest=(1, 4),
    deadline=300) -> Verdict. `rest`: the calm before each fault, in seconds."""
    from .chaos import KINDS, Job, run_job

    def run(job: Job, seed: int = 1, duration: float = 30, faults=KINDS, hold=(2, 6),
            rest=(1, 4), deadline: float = 300):
        verdict = run_job(dasklab, job, seed=seed, duration=duration, hold=hold, rest=rest,
                          faults=tuple(faults), deadline=deadline)
        _say(verdict.table())
        return verdict

    workers = set(dasklab.workers_by_name())
    yield run
    dasklab.wait_for_workers(workers, timeout=120)
