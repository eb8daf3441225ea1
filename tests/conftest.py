"""Fixtures. Integration tests share one session-scoped cluster started by
pytest-docker under its own compose project ("dasklab-test"), on its own ports
and network, so `make test` works beside a running `make up` cluster. It is
always torn down with its volumes; when a test failed, `docker compose ps`,
logs and a cluster dump are saved first (see evidence/)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pytest_docker.plugin import get_docker_services

from dasklab.backends.compose.project import Compose, side_env
from dasklab.evidence import save_compose
from dasklab.settings import ROOT, compose_files, environment, load, named_workers

PROJECT = "dasklab-test"

# A time limit per test (pytest-timeout; `timeout` in pyproject.toml): on expiry
# every thread's stack, the cluster's py-spy dumps and logs are kept (evidence/).
# pytester: the unit test of that time limit runs a test that hangs on purpose.
pytest_plugins = ["dasklab.timelimit", "pytester"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "docker_services" in item.fixturenames or "lab" in item.fixturenames:
            item.add_marker(pytest.mark.integration)
    # Docker-free tests first: quick feedback before the test cluster starts.
    # Then the Swarm tests, before the test cluster exists: leaving a swarm
    # drops the DNS names on bridge networks that existed meanwhile (tests/swarm);
    # and the engine hosts' (tests/hosts), which should not share 2 cores with it.
    # Then the notebooks, whose scenario runs later tests reuse (`scenario`).
    def order(item):
        path = item.nodeid.replace("\\", "/")
        return (item.get_closest_marker("integration") is not None,
                "tests/swarm/" not in path and "tests/hosts/" not in path,
                "tests/notebooks/" not in path)

    items.sort(key=order)


@pytest.fixture(scope="session")
def docker_compose_file() -> list[str]:
    return [str(ROOT / f) for f in compose_files(load())]


@pytest.fixture(scope="session")
def docker_compose_project_name() -> str:
    return PROJECT


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    # Leftovers of an interrupted earlier run would clash: remove them first.
    # `up -d`, then the lab's own wait for every healthcheck (docker_services).
    return ["down -v --remove-orphans --timeout 5", "up -d"]


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    return ["down -v --remove-orphans --timeout 10"]


@pytest.fixture(scope="session")
def test_env() -> dict[str, str]:
    """Ports and network of the test cluster; Compose reads them before .env."""
    return {
        **side_env("172.29.87"),
        # Smaller workers than the default 2 GiB: spill scenarios need 2x the
        # memory target in data, and CI has 2 cores.
        "WORKER_MEMORY": "1GiB",
        "DASKLAB_PROJECT": PROJECT,
        "DASK_CONFIG": str(ROOT / "compose" / "dask.yaml"),
    }


@pytest.fixture(scope="session")
def docker_services(request, docker_compose_command, docker_compose_file,
                    docker_compose_project_name, docker_setup, docker_cleanup, test_env):
    """pytest-docker's cluster, but torn down even when `up` itself fails."""
    with environment(test_env):
        compose = Compose(project=PROJECT, files=tuple(compose_files(load())))
        try:
            with get_docker_services(docker_compose_command, docker_compose_file,
                                     docker_compose_project_name, docker_setup,
                                     docker_cleanup) as services:
                compose.wait_healthy(timeout=300)
                yield services
                if request.session.testsfailed:
                    _save_compose_evidence(compose)
        except Exception:
            _save_compose_evidence(compose)
            subprocess.run(compose.cmd("down", "-v", "--remove-orphans", "--timeout", "5"),
                           capture_output=True)
            raise


def _save_compose_evidence(compose: Compose) -> None:
    folder = ROOT / "evidence" / "pytest"
    save_compose(compose, folder)
    print(f"\n[dasklab] test cluster state saved in {folder}")


@pytest.fixture(scope="session")
def shared_runs(tmp_path_factory):
    """Where this session's scenario runs are recorded (scenarios/registry.py),
    the notebooks' kernels included: they inherit the environment."""
    from scenarios.registry import RUNS_DIR

    with environment({RUNS_DIR: str(tmp_path_factory.mktemp("runs"))}):
        yield


@pytest.fixture
def scenario(lab):
    """`scenario(name, **params)`: the scenario's Result. A run with the same
    parameters that passed earlier in this session (a notebook's, at CI size)
    is reused, not repeated: one run, checked by the notebook and by the test."""
    from scenarios import registry

    def run(name: str, **params):
        result = registry.recorded(name, lab, **params)
        if result is not None:
            print(f"[tests] {name}: the run a notebook made earlier in this session "
                  f"({result.seconds:.1f} s), not run again")
            return result
        return registry.run(name, lab, **params)

    return run


@pytest.fixture(scope="session")
def lab(docker_services, shared_runs):
    from dasklab import open_lab

    from dasklab import timelimit

    lab = open_lab(project=PROJECT)
    lab.wait_for_workers(set(named_workers()), timeout=60)
    timelimit.LAB, timelimit.PROJECT = lab, PROJECT
    yield lab
    timelimit.LAB = None
    lab.close()


@pytest.fixture(autouse=True)
def leaves_the_cluster_as_it_found_it(request):
    """After every integration test: the test cluster holds no task the test
    created, has no plugin it added, every worker is back and running, and no
    container, volume or network of the lab's was left (a side project, an
    elastic worker). A test that left something fails, naming what; the
    cluster is then put back for the next test."""
    if request.node.get_closest_marker("integration") is None:
        yield
        return
    from dasklab import isolation

    lab = request.getfixturevalue("lab") if "lab" in request.fixturenames else None
    before = isolation.snapshot(lab) if lab else None
    docker_before = None if lab else isolation.docker_objects()
    yield
    if lab:
        # @pytest.mark.changes_workers: a test that scales the cluster on purpose.
        changes = request.node.get_closest_marker("changes_workers") is not None
        left = isolation.after_test(lab, before, workers=not changes)
    else:
        new = sorted(isolation.docker_objects() - docker_before)
        left = [f"Docker objects left: {', '.join(new)}"] if new else []
    if left:
        pytest.fail(f"{request.node.nodeid} left the cluster changed: " + "; ".join(left),
                    pytrace=False)


def pytest_terminal_summary(terminalreporter):
    """Beside pytest's slowest tests (--durations), the slowest scenario
    phases: where inside a test the time goes. Kept in reports/ too."""
    from dasklab import progress
    from dasklab.reports import report_path

    slowest = progress.slowest(15)
    if not slowest:
        return
    lines = [f"{seconds:7.1f} s  {name}: {text}" for name, text, seconds in slowest]
    terminalreporter.write_sep("=", "slowest scenario phases")
    for line in lines:
        terminalreporter.write_line(line)
    path = report_path("slowest-phases", "txt")
    path.write_text("\n".join(lines) + "\n")
    terminalreporter.write_line(f"(also in {path.relative_to(ROOT)})")


@pytest.fixture
def fake_scenario(monkeypatch, tmp_path):
    """Register `run` as a scenario named `name` for one test (evidence goes to
    tmp_path); returns the evidence folder."""
    import sys
    import types

    from scenarios import registry

    def register(name: str, run) -> Path:
        module = types.ModuleType(f"fake_{name}")
        module.run = run
        monkeypatch.setitem(sys.modules, module.__name__, module)
        monkeypatch.setitem(registry.SCENARIOS, name,
                            registry.Scenario(name, module.__name__, "a test's own scenario",
                                              needs=frozenset()))
        monkeypatch.setattr("dasklab.evidence.EVIDENCE", tmp_path)
        return tmp_path

    return register
