"""Unit tests of the nemesis against a stub resource manager: what each
fault asks of the resource manager, that heals are idempotent, and that every
fault is recorded in the scenario's result."""

import pytest

from scenarios import registry
from dasklab import Attachment, Nemesis, Resources, Result, render


class StubResources(Resources):
    """Records the calls; a real backend would act on containers."""

    project = "stub"
    kind = "stub"
    stable_addresses = True

    def __init__(self):
        self.calls = []

    def _call(self, *args):
        self.calls.append(args)

    def kill(self, service): self._call("kill", service)
    def start(self, service): self._call("start", service)
    def restart(self, service): self._call("restart", service)
    def stop(self, service): self._call("stop", service)
    def pause(self, service): self._call("pause", service)
    def unpause(self, service): self._call("unpause", service)

    def disconnect(self, service):
        self._call("disconnect", service)
        return Attachment("stub_dask", "10.0.0.12", (service,))

    def connect(self, service, attachment): self._call("connect", service, attachment.ip)

    def exec(self, service, argv):
        self._call("exec", service, tuple(argv))
        return 0, ""

    def recreate(self, service, overlays=(), env=None, fresh_volume=False):
        self._call("recreate", service, tuple(overlays), tuple(sorted((env or {}).items())),
                   fresh_volume)

    def container(self, service): raise LookupError("a stub has no containers")
    def state(self, service): return "running"
    def restarts(self, service): return 0


@pytest.fixture
def nemesis():
    return Nemesis(StubResources())


def test_killed_heals_on_leaving_the_block_even_after_an_error(nemesis):
    with pytest.raises(ZeroDivisionError):
        with nemesis.killed("worker-2"):
            1 / 0
    assert nemesis.resources.calls == [("kill", "worker-2"), ("start", "worker-2")]
    assert nemesis.log[0].healed_at is not None


def test_heal_is_idempotent(nemesis):
    fault = nemesis.paused("worker-1")
    fault.heal()
    fault.heal()
    with fault:
        pass
    assert nemesis.resources.calls == [("pause", "worker-1"), ("unpause", "worker-1")]


def test_disconnect_reconnects_at_the_same_address(nemesis):
    with nemesis.disconnected("worker-2"):
        pass
    assert nemesis.resources.calls == [("disconnect", "worker-2"),
                                       ("connect", "worker-2", "10.0.0.12")]


def test_one_shot_faults_are_healed_at_once(nemesis):
    wipe = nemesis.wiped("worker-2", "/data/x")
    restart = nemesis.restarted("worker-3")
    assert wipe.healed and restart.healed
    assert nemesis.resources.calls == [("exec", "worker-2", ("sh", "-c", "rm -rf /data/x")),
                                       ("restart", "worker-3")]


def test_small_spill_disk_uses_the_overlay_and_heals_to_the_base(nemesis):
    with nemesis.small_spill_disk("worker-3", 64 * 2**20, max_spill=32 * 2**20):
        pass
    (inject, heal) = nemesis.resources.calls
    assert inject[:3] == ("recreate", "worker-3", ("compose/small-spill-disk.yml",))
    assert ("SMALL_SPILL_DISK", str(64 * 2**20)) in inject[3]
    assert ("SMALL_DISK_MAX_SPILL", str(32 * 2**20)) in inject[3]
    assert heal == ("recreate", "worker-3", (), (), False)
    with pytest.raises(ValueError, match="worker-3 only"):
        nemesis.small_spill_disk("worker-1", 2**20)


def test_volume_lost_recreates_on_a_fresh_volume(nemesis):
    nemesis.volume_lost("worker-2")
    assert nemesis.resources.calls == [("recreate", "worker-2", (), (), True)]


def test_registry_records_the_faults_in_the_result(fake_scenario):
    def run(lab):
        with lab.faults.killed("worker-2"):
            pass
        lab.faults.wiped("worker-1", "/data/a")
        return Result("faulty")

    fake_scenario("faulty", run)

    class Lab:
        faults = Nemesis(StubResources())

    Lab.faults.killed("worker-3").heal()  # before the scenario: not its fault
    result = registry.run("faulty", Lab())
    assert result.passed
    assert [(f["fault"], f["target"]) for f in result.faults] == [("kill", "worker-2"),
                                                                  ("wipe", "worker-1")]
    assert all(f["at_s"] >= 0 and f["healed_after_s"] is not None for f in result.faults)
    assert "faults injected" in render(result)


def test_stopped_heals_by_starting_and_crash_kills_the_main_process(nemesis):
    with nemesis.stopped("store"):
        pass
    crash = nemesis.crashed("scheduler")
    assert crash.healed  # the restart policy heals it, not the nemesis
    calls = nemesis.resources.calls
    assert calls[:2] == [("stop", "store"), ("start", "store")]
    assert calls[2][:2] == ("exec", "scheduler") and "kill -9" in calls[2][2][-1]


def test_killed_at_kills_at_the_moment_or_not_at_all_when_the_job_ends_first():
    res = StubResources()
    nemesis = Nemesis(res)
    polls = iter([False, False, ["part-3"]])
    fault, seen = nemesis.killed_at("worker-2", lambda: next(polls), 5, "the moment")
    assert seen == ["part-3"] and res.calls == [("kill", "worker-2")]
    fault.heal()
    assert res.calls[-1] == ("start", "worker-2")
    # The job ended before the moment: no kill, nothing to heal.
    assert nemesis.killed_at("worker-2", lambda: False, 5, "the moment",
                             unless=lambda: True) == (None, None)
    assert res.calls.count(("kill", "worker-2")) == 1


def test_rejoined_address_is_a_check_where_addresses_are_stable_and_a_note_elsewhere():
    from dasklab import rejoined_address

    res, r = StubResources(), Result("stub")
    assert "same address" in rejoined_address(r, res, "worker-2", "tcp://a:1", "tcp://a:1")
    rejoined_address(r, res, "worker-2", "tcp://a:1", "tcp://b:1")
    assert r.verdict == "fail" and "tcp://b:1" in r.notes[-1]
    res.stable_addresses, res.kind, r = False, "swarm", Result("stub")
    said = rejoined_address(r, res, "worker-2", "tcp://a:1", "tcp://b:1")
    assert r.verdict == "pass" and "tcp://a:1 -> tcp://b:1" in said and "by name" in said
