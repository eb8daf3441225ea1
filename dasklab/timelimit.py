"""A pytest plugin: no silent hang, ever.

pytest-timeout gives every test a time limit (`timeout` in pyproject.toml, or
`@pytest.mark.timeout(N)` for a long one). This plugin takes over what happens
when a limit expires, in the main thread, as pytest-timeout's signal method
does, and adds what a person needs to find the hang:
- the stage (setup, call, teardown) and the scenario phase that stalled,
- every thread's stack of this process on the terminal,
- evidence/<time>-timeout-<test>/: those stacks, a py-spy dump of each of the
  cluster's Python processes, and the cluster's logs and state (dasklab/hangs.py),
then fails the test with a message naming all of it. The session goes on.

The test suite loads it from tests/conftest.py; set `timelimit.LAB` (and
`timelimit.PROJECT`) to the cluster the tests use.
"""

from __future__ import annotations

import re
import signal
import threading

import pytest

LAB = None  # the session's Lab, once open: its client's evidence is saved too
PROJECT = "dasklab-test"  # the compose project whose processes py-spy dumps
_stage: dict[str, str] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    _stage[item.nodeid] = "setup (fixtures)"
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    _stage[item.nodeid] = "the test body"
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    _stage[item.nodeid] = "teardown (fixtures)"
    yield


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item, settings):
    """pytest-timeout's signal method with our handler; any other method (or a
    test run outside the main thread) keeps pytest-timeout's own."""
    if settings.method != "signal" or threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        __tracebackhide__ = True
        expired(item, settings.timeout)

    def cancel():
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)

    item.cancel_timeout = cancel
    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, settings.timeout)
    return True


def expired(item, timeout: float) -> None:
    """Keep the evidence and fail the test, naming the stage and the phase."""
    __tracebackhide__ = True
    from . import hangs, progress

    stage = _stage.get(item.nodeid, "an unknown stage")
    phase = progress.last_phase() or "no scenario phase announced"
    why = (f"{item.nodeid} exceeded its time limit of {timeout:.0f} s during {stage}; "
           f"last scenario phase: {phase}")
    terminal = item.config.get_terminal_writer()
    terminal.sep("+", title=f"time limit: {timeout:.0f} s")
    terminal.write(hangs.thread_stacks() + "\n")
    label = "timeout-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name)[:80]
    folder = hangs.save_hang(label, project=PROJECT, lab=LAB, why=why)
    terminal.sep("+", title=f"evidence: {folder}")
    pytest.fail(f"{why}. Every thread's stack is printed above; the stacks, the cluster's "
                f"py-spy dumps and logs are in {folder}", pytrace=False)
