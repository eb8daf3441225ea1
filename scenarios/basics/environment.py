"""environment: one environment everywhere, and three ways to extend it.

A task importing `tabulate` (installed on the client, absent from the image)
fails on the workers with ModuleNotFoundError: the client's environment is
not the cluster's. Then three fixes, each timed until every worker can import
the module, and checked after a worker restart and on a worker that joins
later (a freshly created container): (a) the PipInstall plugin from the
cluster's own package index (the `wheels` service), (b) client.upload_file for
the user's own module, (c) an image with the extra requirement. Last, drift:
a worker from an image with toolz at another version joins; Dask only warns,
check-env names the package and the worker; removing it makes all match again.
"""

from __future__ import annotations

import importlib
import subprocess
import time
import warnings

from dasklab import ROOT, Compose, Result, check_env, phase, versions, wait_until
from dasklab.code import module_file
from dasklab.settings import WHEELS_INDEX, compose_files, named_workers

PKG = "tabulate"


def can_import(name: str) -> bool:
    importlib.invalidate_caches()  # see packages installed since the last look
    try:
        importlib.import_module(name)
        return True
    except ImportError:
        return False


def use_tabulate() -> str:
    import tabulate

    return tabulate.tabulate([[1, 2]])


def _importable(lab, name: str) -> dict[str, bool]:
    return lab.run_by_name(can_import, name)


def _all_import(lab, name: str, timeout: float = 120) -> None:
    wait_until(lambda: (seen := _importable(lab, name)) and set(seen) >= set(named_workers())
               and all(seen[w] for w in named_workers()), timeout,
               f"every worker to import {name}", state=lambda: _importable(lab, name))


def _survival(lab, name: str, compose: Compose) -> tuple[bool, bool]:
    """(importable on worker-2 after a restart, on a freshly created worker-3)."""
    lab.replace_processes({
        "worker-2": lambda: lab.faults.restarted("worker-2"),
        "worker-3": lambda: compose.run("up", "-d", "--no-deps", "--force-recreate", "worker-3")})
    return _poll_import(lab, "worker-2", name), _poll_import(lab, "worker-3", name)


def _poll_import(lab, worker: str, name: str, timeout: float = 60) -> bool:
    try:
        wait_until(lambda: _importable(lab, name).get(worker), timeout,
                   f"{worker} to import {name}")
        return True
    except TimeoutError:
        return False


def _fresh_workers(lab, compose: Compose) -> None:
    compose.up(*named_workers(), recreate=True)
    lab.wait_for_workers(set(named_workers()), timeout=90)


def _remove_pip_plugins(lab) -> None:
    """PipInstall is a scheduler plugin that registers a worker plugin under a
    generated name; remove both (also leftovers of an interrupted run)."""
    lab.remove_plugins(("PipInstall-", "lab-pip-"))


def pip_install_missing(lab, package: str = "dasklab-no-such-package") -> str:
    """PipInstall of a package the index does not have: the error the user
    gets (it names the package); the workers must stay healthy."""
    from distributed.diagnostics.plugin import PipInstall

    try:
        lab.client.register_plugin(PipInstall([package], pip_options=WHEELS_INDEX),
                                   name="lab-pip-" + package)
        return "(no error)"
    except Exception as e:  # noqa: BLE001 - the message is what we check
        return f"{type(e).__name__}: {e}"
    finally:
        _remove_pip_plugins(lab)


def run(lab, image_option: bool = True, drift: bool = True) -> Result:
    r = Result("environment")
    c = lab.client
    _remove_pip_plugins(lab)
    _fresh_workers(lab, lab.compose)  # nothing installed by an earlier run
    client_has = can_import(PKG)
    try:
        c.submit(use_tabulate, pure=False).result(timeout=60)
        missing = "(no error)"
    except Exception as e:  # noqa: BLE001 - the error is the lesson
        missing = f"{type(e).__name__}: {e}"
    r.measurements.update({"client_imports_" + PKG: client_has, "on_workers": missing})
    r.check(client_has and "ModuleNotFoundError" in missing,
            "expected the client to have tabulate and the workers not")
    rows = []

    phase(f"(a) PipInstall of {PKG} from the cluster's own index")
    from distributed.diagnostics.plugin import PipInstall

    start = time.monotonic()
    c.register_plugin(PipInstall([PKG], pip_options=WHEELS_INDEX), name="lab-pip-" + PKG)
    _all_import(lab, PKG)
    rows.append({"option": "(a) PipInstall plugin, local index",
                 "seconds_until_all_import": round(time.monotonic() - start, 1),
                 **dict(zip(("after_restart", "new_worker"), _survival(lab, PKG, lab.compose)))})
    _remove_pip_plugins(lab)
    _fresh_workers(lab, lab.compose)  # drop what pip installed in the containers

    phase("(b) client.upload_file for your own module")
    with module_file("labmod", "def greet():\n    return 'hello from your own module'\n") \
            as (module, path):
        start = time.monotonic()
        c.upload_file(path)  # the workers have their copies after this
    _all_import(lab, module)
    rows.append({"option": "(b) client.upload_file (your module)",
                 "seconds_until_all_import": round(time.monotonic() - start, 1),
                 **dict(zip(("after_restart", "new_worker"), _survival(lab, module, lab.compose)))})

    # (c) an image with the extra requirement.
    if image_option:
        phase(f"(c) an image with {PKG}: make image-extra, then new workers from it")
        start = time.monotonic()
        subprocess.run(["make", "-s", "image-extra", f"EXTRA_REQUIREMENTS={PKG}"], cwd=ROOT,
                       check=True, capture_output=True, timeout=900)
        built = time.monotonic() - start
        extra = Compose(project=lab.compose.project, files=lab.compose.files,
                        env={"DASKLAB_IMAGE": "dasklab/dask:extra"})
        _fresh_workers(lab, extra)
        _all_import(lab, PKG)
        rows.append({"option": "(c) image with the requirement",
                     "seconds_until_all_import": round(time.monotonic() - start, 1),
                     "image_build_s": round(built, 1),
                     **dict(zip(("after_restart", "new_worker"), _survival(lab, PKG, extra)))})
        _fresh_workers(lab, lab.compose)  # back to the lab's image
    r.tables["ways to supply a dependency"] = rows
    for row in rows:
        r.check(row["after_restart"] and row["new_worker"],
                f"{row['option']}: should survive a restart and reach a new worker")
    if drift:
        drift_case(lab, r)
    r.notes += [
        "It worked on the client because the client's .venv has tabulate; tasks run in the "
        "workers' Python, built from the image. Client, scheduler and workers must share one "
        "environment.",
        "(a) is quick to try but installs at every worker start and needs an index the "
        "containers can reach; (b) suits your own small modules; (c) is what production uses: "
        "slower to change, but every new worker has it from its first second.",
    ]
    return r


def drift_case(lab, r: Result) -> None:
    c = lab.client
    phase("drift: a worker from an image with another toolz joins")
    subprocess.run(["make", "-s", "image-rogue"], cwd=ROOT, check=True, capture_output=True,
                   timeout=900)
    rogue = Compose(project=lab.compose.project,
                    files=tuple(compose_files(lab.settings, rogue=True)))
    rogue.run("up", "-d", "--no-deps", "worker-rogue")
    try:
        lab.wait_for_workers({*named_workers(), "worker-rogue"}, timeout=90)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            c.get_versions(check=True)
        dask_says = next((str(w.message).splitlines()[0] for w in caught), "(no warning)")
        rows = versions.differences(versions.collect(lab), check_env.packages_to_compare())
    finally:
        rogue.run("rm", "-s", "-f", "worker-rogue")
    wait_until(lambda: "worker-rogue" not in lab.workers_by_name(), 60,
               "the rogue worker to leave")
    after = versions.differences(versions.collect(lab), check_env.packages_to_compare())
    toolz = next((row for row in rows if row["package"] == "toolz"), {})
    r.measurements.update({
        "drift_dask_warning": dask_says,
        "drift_check_env_differences": ", ".join(row["package"] for row in rows) or "(none)",
        "drift_rogue_toolz": toolz.get("worker-rogue", "?"),
        "drift_after_removal": len(after),
    })
    r.check("toolz" in [row["package"] for row in rows], "check-env should name toolz")
    r.check(toolz.get("worker-rogue") not in (None, toolz.get("client")),
            "check-env should show worker-rogue's other toolz version")
    r.check(not after, "without the rogue worker everything should match again")
