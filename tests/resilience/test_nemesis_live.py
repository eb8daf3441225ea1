"""Integration tests: the nemesis's faults on the real test cluster, seen
from inside it (another worker probing worker-2's /health)."""

from dasklab import container, wait_until
from dasklab.settings import named_workers

WORKERS = set(named_workers())
# GET /health on worker-2's HTTP port from worker-1, given up after 2 s.
PROBE = ("timeout 2 bash -c 'exec 3<>/dev/tcp/worker-2/8790 && "
         "printf \"GET /health HTTP/1.0\\r\\n\\r\\n\" >&3 && grep -qx ok <&3'")


def reachable(lab) -> bool:
    code, _ = lab.resources.exec("worker-1", ["bash", "-c", PROBE])
    return code == 0


def ip_of(lab, service: str) -> str:
    networks = container(lab.compose.project, service).attrs["NetworkSettings"]["Networks"]
    return networks[f"{lab.compose.project}_dask"]["IPAddress"]


def test_pause_freezes_worker_2_and_unpause_brings_the_same_process_back(lab):
    assert reachable(lab)
    process = lab.process_id("worker-2")
    with lab.faults.paused("worker-2") as fault:
        assert lab.resources.state("worker-2") == "paused"
        assert not reachable(lab), "a frozen worker must not answer"
    assert fault.healed and lab.resources.state("worker-2") == "running"
    wait_until(lambda: reachable(lab), 30, "worker-2 to answer again after unpause")
    assert lab.process_id("worker-2") == process, "frozen, not restarted"
    assert lab.faults.log[-1].kind == "pause" and lab.faults.log[-1].target == "worker-2"


def test_disconnect_cuts_worker_2_off_and_reconnects_it_at_the_same_address(lab):
    ip = ip_of(lab, "worker-2")
    with lab.faults.disconnected("worker-2"):
        assert not reachable(lab), "worker-1 must not reach a disconnected worker-2"
    assert ip_of(lab, "worker-2") == ip
    wait_until(lambda: reachable(lab), 30, "worker-2 reachable by name after reconnect")
    assert set(lab.wait_for_workers(WORKERS, timeout=60)) == WORKERS
    f = lab.client.submit(sum, [1, 2], workers=["worker-2"], pure=False)
    assert f.result(timeout=60) == 3
