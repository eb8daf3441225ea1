"""The nemesis: every fault the lab injects, as inject/heal pairs.

    with lab.faults.killed("worker-2"):      # SIGKILL now ...
        wait_for_the_scheduler_to_notice()
    # ... started again here, whatever happened inside

Each method injects at once and returns a `Fault`; leaving its `with` block,
or calling `heal()`, undoes it. Heal is idempotent: a second call does
nothing, so a scenario may heal early and still use `with` for safety.
Faults with nothing to undo (a restart, a wipe, a lost volume) heal as a
no-op. Every fault is recorded (what, target, when injected and healed) and
the registry copies the records into the scenario's result.

The nemesis speaks only the `Resources` interface (resources.py): a Swarm or
Kubernetes backend gets the same catalogue by implementing that.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from .progress import phase
from .waiting import wait_until
from .backends.base import Resources

SMALL_SPILL_OVERLAY = "compose/small-spill-disk.yml"  # defines worker-3 only


@dataclass
class FaultRecord:
    kind: str
    target: str
    detail: str = ""
    injected_at: float = 0.0  # time.time()
    healed_at: float | None = None


@dataclass
class Fault:
    record: FaultRecord
    _heal: Callable[[], None] | None = field(default=None, repr=False)
    heal_text: str = "heal"  # what healing does, for the phase line

    def heal(self) -> None:
        if self.record.healed_at is not None:
            return
        if self._heal is not None:
            phase(f"heal ({self.record.kind}): {self.heal_text} {self.record.target}")
            self._heal()
        self.record.healed_at = time.time()

    def superseded(self) -> None:
        """A later fault on the same target undid this one (a recreate over a
        recreate): recorded as healed now, without running its own heal."""
        if self.record.healed_at is None:
            self.record.healed_at = time.time()

    @property
    def healed(self) -> bool:
        return self.record.healed_at is not None

    def __enter__(self) -> "Fault":
        return self

    def __exit__(self, *exc) -> None:
        self.heal()


class Nemesis:
    def __init__(self, resources: Resources) -> None:
        self.resources = resources
        self.log: list[FaultRecord] = []
        self.faults: list[Fault] = []

    def heal_all(self) -> list[str]:
        """Heal every fault still in force, the latest first (a test's
        teardown, even after a failure); returns what it healed."""
        healed = []
        for fault in reversed(self.faults):
            if not fault.healed:
                fault.heal()
                healed.append(f"{fault.record.kind} {fault.record.target}")
        return healed

    def _inject(self, kind: str, target: str, do: Callable[[], object],
                heal: Callable[[], None] | None, detail: str = "",
                heal_text: str = "heal") -> Fault:
        phase(f"fault: {kind} {target}" + (f" ({detail})" if detail else ""))
        record = FaultRecord(kind=kind, target=target, detail=detail, injected_at=time.time())
        do()
        self.log.append(record)
        fault = Fault(record, heal, heal_text)
        self.faults.append(fault)
        if heal is None:  # nothing to undo: healed the moment it happened
            record.healed_at = record.injected_at
        return fault

    # -- the catalogue -----------------------------------------------------
    def killed(self, service: str) -> Fault:
        """SIGKILL the container (`docker compose kill`); heal: start it."""
        r = self.resources
        return self._inject("kill", service, lambda: r.kill(service), lambda: r.start(service),
                            heal_text="start")

    def killed_at(self, service: str, moment: Callable[[], object], timeout: float, what: str,
                  unless: Callable[[], bool] = lambda: False) -> tuple[Fault | None, object]:
        """Kill `service` at a point of a job rather than of the clock: as soon
        as `moment()` returns something truthy (polled every 50 ms, for at most
        `timeout` s). Returns the fault and what `moment` returned; (None, None)
        when `unless()` came true first (the job ended before the moment)."""
        seen = wait_until(lambda: "unless" if unless() else moment(), timeout, what,
                          interval=0.05)
        if seen == "unless":
            return None, None
        return self.killed(service), seen

    def stopped(self, service: str) -> Fault:
        """Stop the container gracefully (`docker compose stop`); heal: start it."""
        r = self.resources
        return self._inject("stop", service, lambda: r.stop(service), lambda: r.start(service),
                            heal_text="start")

    def crashed(self, service: str) -> Fault:
        """SIGKILL the container's main process from inside (a crash, not an
        admin's kill): the restart policy brings the container back by itself."""
        def crash() -> None:
            # PID 1 is tini; its child is the service's own process.
            code, out = self.resources.exec(
                service, ["sh", "-c", "kill -9 $(cat /proc/1/task/1/children)"])
            if code != 0:
                raise RuntimeError(f"crashing {service} failed ({code}): {out}")
        return self._inject("crash", service, crash, None)

    def restarted(self, service: str) -> Fault:
        """Stop and start the container (graceful: the nanny closes the worker)."""
        r = self.resources
        return self._inject("restart", service, lambda: r.restart(service), None)

    def paused(self, service: str) -> Fault:
        """Freeze the container: alive, holding its connections, answering
        nothing; heal: unpause."""
        r = self.resources
        return self._inject("pause", service, lambda: r.pause(service),
                            lambda: r.unpause(service), heal_text="unpause")

    def disconnected(self, service: str) -> Fault:
        """Cut the container off the cluster network; heal: reconnect it at
        the same address under the same names."""
        r = self.resources
        where = {}
        return self._inject("disconnect", service,
                            lambda: where.setdefault("a", r.disconnect(service)),
                            lambda: r.connect(service, where["a"]), heal_text="reconnect")

    def wiped(self, service: str, path: str) -> Fault:
        """Delete `path` inside the container (shell globs allowed)."""
        def wipe() -> None:
            code, out = self.resources.exec(service, ["sh", "-c", f"rm -rf {path}"])
            if code != 0:
                raise RuntimeError(f"wiping {path} in {service} failed ({code}): {out}")
        return self._inject("wipe", service, wipe, None, detail=path)

    def volume_lost(self, service: str) -> Fault:
        """The container and its volume removed; a new container starts on a
        new, empty volume (a lost disk)."""
        r = self.resources
        return self._inject("lose-volume", service,
                            lambda: r.recreate(service, fresh_volume=True), None)

    def small_spill_disk(self, service: str, size_bytes: int,
                         max_spill: int | None = None) -> Fault:
        """Recreate the worker with a tmpfs of `size_bytes` over its spill
        space (a disk that fills up) and Dask's max-spill at `max_spill`;
        heal: recreate it from the base definition."""
        if service != "worker-3":
            raise ValueError(f"{SMALL_SPILL_OVERLAY} defines worker-3 only, not {service}")
        r = self.resources
        env = {"SMALL_SPILL_DISK": str(size_bytes),
               "SMALL_DISK_MAX_SPILL": "false" if max_spill is None else str(max_spill)}
        detail = f"{size_bytes >> 20} MiB tmpfs, max-spill " + (
            "off" if max_spill is None else f"{max_spill >> 20} MiB")
        return self._inject("small-spill-disk", service,
                            lambda: r.recreate(service, (SMALL_SPILL_OVERLAY,), env),
                            lambda: r.recreate(service), detail=detail,
                            heal_text="recreate from the base definition")


def rejoined_address(r, resources: Resources, service: str, before: str, after: str) -> str:
    """Where `service` came back after a fault, as a phrase for a note. Where
    the backend keeps addresses (Compose: fixed IPs) it must be the old one,
    a check on `r`; elsewhere (Swarm: a new task, a new IP) a new one is
    normal and the phrase says why a restriction by name still reaches it."""
    if resources.stable_addresses:
        r.check(after == before, f"{service} should rejoin at the same address ({before}), "
                                 f"not {after}")
        return "at the same address: fixed addresses make the name a stable identity"
    return (f"at a new address ({before} -> {after}; {resources.kind} gives a new task a new "
            f"IP): workers=['{service}'] still reaches it, since the scheduler matches "
            "restrictions by name too")


def records_since(nemesis: Nemesis | None, mark: int, start: float) -> list[dict]:
    """The faults injected after `mark`, as rows for a result: seconds from
    the scenario's start (`start`, a time.time()) and how long each lasted."""
    if nemesis is None:
        return []
    rows = []
    for rec in nemesis.log[mark:]:
        rows.append({"fault": rec.kind, "target": rec.target, "detail": rec.detail,
                     "at_s": round(rec.injected_at - start, 1),
                     "healed_after_s": (None if rec.healed_at is None
                                        else round(rec.healed_at - rec.injected_at, 1))})
    return rows
