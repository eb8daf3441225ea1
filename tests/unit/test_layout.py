"""The house's rules (README, "Layout"): dasklab/ (the tool) never imports
scenarios/ (the course), which would make the tool unusable outside this
checkout; and only dasklab/backends/ speaks to Docker, so a new backend
(Kubernetes, say) is a new folder there, not edits all over."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, relative ones resolved."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            out.append((node.lineno, base))
    return out


def test_dasklab_never_imports_scenarios():
    found = [f"{p.relative_to(ROOT)}:{line} imports {mod}"
             for p in sorted((ROOT / "dasklab").rglob("*.py"))
             for line, mod in _imports(p) if mod.split(".")[0] == "scenarios"]
    assert found == []


def test_the_check_resolves_relative_and_absolute_imports():
    """It is not passing by reading nothing: a relative import inside dasklab
    and an absolute one of scenarios are both seen, with their full names."""
    cluster = ROOT / "dasklab" / "backends" / "compose" / "cluster.py"
    assert "dasklab.plugins.static_floor" in {m for _, m in _imports(cluster)}
    course_side = ROOT / "scenarios" / "scoring" / "model_cache.py"
    assert "scenarios.scoring.model" in {m for _, m in _imports(course_side)}


def test_every_module_of_both_packages_imports():
    """A moved module's stale import fails here, not halfway through a scenario."""
    import importlib
    import pkgutil

    import dasklab
    import scenarios

    broken = []
    for package in (dasklab, scenarios):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            try:
                importlib.import_module(info.name)
            except Exception as e:  # noqa: BLE001 - collected, then shown together
                broken.append(f"{info.name}: {e!r}")
    assert broken == []


def _docker_uses(path: Path) -> list[str]:
    """Imports of the Docker SDK, and command lines that start with "docker"."""
    found = [f"line {line}: import {mod}" for line, mod in _imports(path)
             if mod.split(".")[0] == "docker"]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.List, ast.Tuple)) and node.elts \
                and isinstance(node.elts[0], ast.Constant) and node.elts[0].value == "docker":
            found.append(f"line {node.lineno}: runs docker")
    return found


def test_only_the_backends_speak_to_docker():
    backends = ROOT / "dasklab" / "backends"
    found = [f"{p.relative_to(ROOT)} {use}"
             for package in ("dasklab", "scenarios")
             for p in sorted((ROOT / package).rglob("*.py")) if backends not in p.parents
             for use in _docker_uses(p)]
    assert found == []


def test_the_docker_check_sees_the_backends_own_uses():
    """Not passing by reading nothing: the backends' own SDK import and
    command lines are found."""
    backends = ROOT / "dasklab" / "backends"
    assert _docker_uses(backends / "docker_api.py")
    assert any("runs docker" in u for u in _docker_uses(backends / "compose" / "project.py"))


def test_examples_use_dasklab_from_outside_never_the_course():
    files = sorted((ROOT / "examples").rglob("*.py"))
    assert files, "examples/ holds code"
    found = [f"{p.relative_to(ROOT)}:{line} imports {mod}"
             for p in files for line, mod in _imports(p) if mod.split(".")[0] == "scenarios"]
    assert found == []
    assert any(mod.startswith("dasklab") for p in files for _, mod in _imports(p))
