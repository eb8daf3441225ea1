"""Your own code on the cluster with `client.upload_file`: `module_file`
writes a module only the client has (the environment scenario's option b,
scoring's dependency lesson); `shipped` uploads modules or packages for the
length of a block and removes the upload afterwards (scoring's lesson, the
chaos checker's `JOB=`, the pytest plugin)."""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager


@contextmanager
def module_file(prefix: str, source: str):
    """A module only this client has, named `<prefix>_<ms>` so no earlier run's
    copy is imported instead: written to a temporary folder that is on this
    process's sys.path while the block runs. Yields (module name, file path).
    Afterwards the folder, the path entry and the imported module are gone;
    the workers keep their uploaded copies (a file, and upload_file's plugin)."""
    folder = tempfile.mkdtemp(prefix="dasklab-")
    name = f"{prefix}_{int(time.time() * 1000)}"
    path = os.path.join(folder, name + ".py")
    with open(path, "w") as f:
        f.write(source)
    sys.path.insert(0, folder)
    importlib.invalidate_caches()
    try:
        yield name, path
    finally:
        sys.path.remove(folder)
        sys.modules.pop(name, None)
        shutil.rmtree(folder, ignore_errors=True)


def _forget(names: tuple[str, ...], dask_worker=None, dask_scheduler=None) -> list[str]:
    """Runs on a worker or the scheduler: drop `names` and their submodules
    from sys.modules, so the next upload imports the new code, not the old."""
    gone = [m for m in list(sys.modules) if m.split(".")[0] in names]
    for m in gone:
        del sys.modules[m]
    return gone


def _archive(name: str, path: str, folder: str) -> str:
    """A package directory as <folder>/<name>.zip (its .py files), or a
    single module copied as <folder>/<name>.py: what upload_file takes."""
    import zipfile

    if os.path.isfile(path):
        out = os.path.join(folder, f"{name}.py")
        shutil.copyfile(path, out)
        return out
    out = os.path.join(folder, f"{name}.zip")
    with zipfile.ZipFile(out, "w") as z:
        for base, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for f in files:
                if f.endswith(".py"):
                    full = os.path.join(base, f)
                    z.write(full, os.path.join(name, os.path.relpath(full, path)))
    return out


@contextmanager
def shipped(lab, packages: dict[str, str]):
    """Your own code on the scheduler and every worker while the block runs:
    each of `packages` ({top-level name: package directory or module file})
    is zipped and sent with client.upload_file, which the scheduler needs as
    much as the workers (it unpickles the graph first), and which a worker
    restarted meanwhile gets again. Functions go by reference, as your own
    installed package would; older copies are forgotten first. Afterwards
    the upload plugins are removed (the workers keep the imported modules)."""
    if not packages:
        yield
        return
    c = lab.client
    names = tuple(packages)
    c.run(_forget, names)
    c.run_on_scheduler(_forget, names)
    folder = tempfile.mkdtemp(prefix="dasklab-ship-")
    files = []
    try:
        for name, path in packages.items():
            files.append(_archive(name, path, folder))
            c.upload_file(files[-1])
        yield
    finally:
        lab.remove_plugins(tuple(files))
        shutil.rmtree(folder, ignore_errors=True)


def package_of(module_name: str) -> dict[str, str]:
    """{top-level name: its directory (a package) or file (a module)} for an
    imported module: what `shipped` takes."""
    top = module_name.split(".")[0]
    path = getattr(sys.modules.get(top), "__file__", None)
    if not path:
        raise ValueError(f"{top} is not an imported module with a file")
    return {top: os.path.dirname(path) if path.endswith("__init__.py") else path}
