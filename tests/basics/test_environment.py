"""Integration tests: one environment everywhere (check-env, the environment
scenario with its three fixes and the drift case)."""

import subprocess
import sys

from scenarios import registry
from scenarios.basics.environment import pip_install_missing
from dasklab.settings import ROOT, named_workers

WORKERS = set(named_workers())


def test_check_env_passes_on_the_lab_cluster(lab):
    proc = subprocess.run([sys.executable, "-m", "dasklab.check_env"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "identical on client, scheduler and 3 workers" in proc.stdout


def test_environment_scenario_three_fixes_and_drift(lab):
    r = registry.run("environment", lab)
    assert r.verdict == "pass", r.notes + [r.error or "", f"evidence: {r.evidence}"]
    m = r.measurements
    assert "ModuleNotFoundError" in m["on_workers"] and m["client_imports_tabulate"]
    rows = r.tables["ways to supply a dependency"]
    assert len(rows) == 3
    for row in rows:
        assert row["after_restart"] and row["new_worker"], row
        assert row["seconds_until_all_import"] >= 0
    assert m["drift_check_env_differences"] == "toolz"
    assert m["drift_rogue_toolz"] == "1.0.0"
    assert m["drift_after_removal"] == 0
    assert "Mismatched versions" in m["drift_dask_warning"]
    assert set(lab.workers_by_name()) == WORKERS


def test_pip_install_of_a_missing_package_names_it_and_workers_stay(lab):
    error = pip_install_missing(lab, "dasklab-no-such-package")
    assert "dasklab-no-such-package" in error and "(no error)" not in error
    assert set(lab.workers_by_name()) == WORKERS
    assert lab.client.submit(sum, [1, 2], pure=False).result(timeout=30) == 3
