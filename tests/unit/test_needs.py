"""Unit tests: each scenario states what it needs; against a cluster that
lacks it the scenario is skipped with the reason, before it starts."""

import pytest

from scenarios import registry
from dasklab import Result, needs
from dasklab.connect import backend_name
from dasklab.settings import SettingsError


def test_every_scenario_names_only_known_needs():
    for scenario in registry.SCENARIOS.values():
        assert scenario.needs <= set(needs.NEEDS), scenario.name
    # The ones that inject faults say so.
    for name in ("worker-loss", "storage-loss", "partition", "chaos", "scoring"):
        assert "containers" in registry.SCENARIOS[name].needs, name


def test_a_scenario_is_skipped_with_the_reason_and_never_started(monkeypatch, fake_scenario):
    started = []
    fake_scenario("needy", lambda lab: started.append(1) or Result("needy"))
    monkeypatch.setitem(registry.SCENARIOS, "needy", registry.Scenario(
        "needy", registry.SCENARIOS["needy"].module, "test",
        needs=frozenset({"store", "containers"})))
    monkeypatch.setattr(needs, "provided", lambda lab, wanted=None: {"store"})
    r = registry.run("needy", object())
    assert r.verdict == "skip" and not r.passed and not started
    assert r.notes == ["needs " + needs.NEEDS["containers"]]


def test_a_scenario_runs_when_its_needs_are_met(monkeypatch, fake_scenario):
    fake_scenario("needy", lambda lab: Result("needy"))
    monkeypatch.setitem(registry.SCENARIOS, "needy", registry.Scenario(
        "needy", registry.SCENARIOS["needy"].module, "test", needs=frozenset({"store"})))
    monkeypatch.setattr(needs, "provided", lambda lab, wanted=None: {"store", "compose"})
    assert registry.run("needy", object()).verdict == "pass"


def test_only_the_needs_a_scenario_names_are_asked_of_the_cluster(monkeypatch):
    # A one-worker cluster running a store-only scenario must not wait a
    # minute for worker-2 and worker-3 (the TLS side cluster did, every run).
    asked = []
    monkeypatch.setattr(needs, "_named_workers", lambda lab: asked.append("named") or False)
    monkeypatch.setattr("dasklab.objects.bucket_ready",
                        lambda values: asked.append("store") or True)

    class Lab:
        resources, settings = None, {}

    assert needs.provided(Lab(), frozenset({"store"})) == {"store"}
    assert asked == ["store"]
    assert needs.provided(Lab(), frozenset({"named-workers"})) == set()
    assert asked == ["store", "named"]


def test_an_unknown_need_is_an_error_not_a_skip():
    with pytest.raises(ValueError, match="unknown needs"):
        needs.unmet(frozenset({"gpu"}), set())


def test_backend_defaults_and_bad_values(monkeypatch):
    monkeypatch.delenv("DASKLAB_BACKEND", raising=False)
    monkeypatch.delenv("DASKLAB_SCHEDULER", raising=False)
    assert backend_name() == "compose"
    monkeypatch.setenv("DASKLAB_SCHEDULER", "tcp://10.1.2.3:8786")
    assert backend_name() == "none"  # a cluster the lab did not start: no faults there
    monkeypatch.setenv("DASKLAB_BACKEND", "swarm")
    assert backend_name() == "swarm"
    monkeypatch.setenv("DASKLAB_BACKEND", "k8s")
    with pytest.raises(SettingsError, match="DASKLAB_BACKEND='k8s'.*compose, swarm, hosts, none"):
        backend_name()


def test_lab_code_goes_by_value_only_while_a_scenario_runs_on_a_foreign_cluster(fake_scenario):
    import cloudpickle

    seen = []

    def run(lab):
        seen.append(sorted(m for m in cloudpickle.list_registry_pickle_by_value()
                           if m.split(".")[0] in ("dasklab", "scenarios")))
        return Result("foreign")

    fake_scenario("foreign", run)

    class Foreign:
        backend = "none"

    assert registry.run("foreign", Foreign()).verdict == "pass"
    # Both packages: the course's modules and the tool's.
    assert "scenarios.registry" in seen[0] and "dasklab.connect" in seen[0], seen[0]
    # Afterwards nothing stays registered: by value, a function drags its
    # module's globals along, which the lab's own clusters must never pay for.
    assert not [m for m in cloudpickle.list_registry_pickle_by_value()
                if m.split(".")[0] in ("dasklab", "scenarios")]
