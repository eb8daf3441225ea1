"""`pip install -e .` into another virtual environment gives `import dasklab`
(and the course's `scenarios`) from this checkout: what a team does to use
the tool from their own project. Offline: the build backend comes from the
wheelhouse that `make venv` fills, never from an index."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from dasklab.settings import ROOT

WHEELHOUSE = ROOT / "build" / "wheelhouse"


def test_pip_install_editable_gives_import_dasklab_and_its_pytest_plugin(tmp_path):
    if not any(WHEELHOUSE.glob("setuptools-*.whl")):
        pytest.skip("no setuptools wheel in build/wheelhouse: run `make venv` first")
    # setuptools writes the build's metadata (dasklab.egg-info) into the checkout.
    metadata = ROOT / "dasklab.egg-info"
    made_here = not metadata.exists()
    try:
        _install_and_import(tmp_path)
    finally:
        if made_here:
            shutil.rmtree(metadata, ignore_errors=True)


def _install_and_import(tmp_path):
    venv = tmp_path / "theirs"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # Only the wheelhouse: no index, and no pip settings of this machine's user.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
         "--no-index", "--find-links", str(WHEELHOUSE), "--no-deps", "-e", str(ROOT)],
        capture_output=True, text=True, timeout=300, env=env)
    assert install.returncode == 0, install.stderr[-2000:]
    # From another folder: the import comes from the install, not from the cwd.
    found = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import dasklab, scenarios; print(dasklab.__file__); print(scenarios.__file__)"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert found.returncode == 0, found.stderr
    assert found.stdout.split() == [str(ROOT / "dasklab" / "__init__.py"),
                                    str(ROOT / "scenarios" / "__init__.py")]
    # The pytest plugin comes with the install: pytest loads it by this entry point.
    plugins = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "from importlib.metadata import entry_points as e; "
         "print(*[p.value for p in e(group='pytest11')])"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert "dasklab.pytest_plugin" in plugins.stdout.split(), plugins.stderr
