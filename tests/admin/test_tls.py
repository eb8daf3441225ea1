"""Mutual TLS (compose/tls.yml) on a side cluster of its own (project
dasklab-tls: scheduler, worker-1, store): the host client and the scenarios
work unchanged, and each kind of unwelcome peer is refused, with the line the
refusing side logs. Refusals are asserted as OSError plus the log line, not one
exact client message: under TLS 1.3 which error the client sees is racy."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time

import pytest

from scenarios.admin import certs
from dasklab.backends.compose.project import Compose, side_env
from dasklab.connect import wait_until
from dasklab.backends.docker_api import container, output_since
from dasklab.settings import CERTS, ROOT, compose_files

pytestmark = pytest.mark.integration

PROJECT = "dasklab-tls"
ENV = {"TLS": "on", "DASKLAB_PROJECT": PROJECT, "WORKER_MEMORY": "1GiB", **side_env("172.29.93")}


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory):
    certs.ensure()
    rogue = tmp_path_factory.mktemp("rogue")
    certs.ensure(rogue, roles=(certs.ROLES[-1],), ca_name="rogue-ca")  # a client of another CA
    compose = Compose(project=PROJECT, files=tuple(compose_files(ENV)), env=ENV)
    compose.run("down", "-v", "--remove-orphans", "--timeout", "5", check=False)
    try:
        compose.up("scheduler", "worker-1", "store", timeout=240)
        yield {"port": int(ENV["SCHEDULER_PORT"]), "rogue": rogue}
    finally:
        compose.run("down", "-v", "--remove-orphans", "--timeout", "10", check=False)


def _security(ca=None, cert_dir=None):
    from distributed import Security

    kw = {"tls_ca_file": str(ca)} if ca else {}
    if cert_dir:
        kw.update(tls_client_cert=str(cert_dir / "client.pem"),
                  tls_client_key=str(cert_dir / "client-key.pem"))
    return Security(require_encryption=True, **kw)


def _logged(service: str, since: float, *needles: str) -> str:
    return wait_until(lambda: (text := output_since(container(PROJECT, service), since)) and
                      all(n in text for n in needles) and text,
                      30, f"{service} to log {needles}")


def _scenario(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scenarios", *args, "--json"], cwd=ROOT,
                          env={**os.environ, **ENV}, capture_output=True, text=True, timeout=600)


def test_tour_and_a_data_scenario_pass_unchanged_over_tls(tls_cluster):
    tour = _scenario("tour", "--set", "expected_workers=1")
    assert tour.returncode == 0 and '"verdict": "pass"' in tour.stdout, tour.stdout + tour.stderr
    assert '"scheduler_address": "tls://' in tour.stdout
    # Not smaller: below ~2 MB the graph and TLS records weigh as much as the
    # data, and (b)'s "far less through the client" no longer holds.
    data = _scenario("source-data", "--set", "files=4", "--set", "rows=20000")
    assert data.returncode == 0 and '"verdict": "pass"' in data.stdout, data.stdout + data.stderr


def test_the_lab_client_speaks_tls13_to_the_scheduler_and_workers_use_tls(tls_cluster):
    from distributed import Client

    with Client(f"tls://127.0.0.1:{tls_cluster['port']}", timeout=10,
                security=_security(CERTS / "ca.pem", CERTS)) as c:
        info = c.scheduler_comm.comm.extra_info
        assert info["cipher"][1] == "TLSv1.3"
        assert dict(x[0] for x in info["peercert"]["subject"])["commonName"] == "dasklab-scheduler"
        workers = c.scheduler_info()["workers"]
        assert workers and all(a.startswith("tls://") for a in workers)
        assert c.submit(sum, [1, 2, 3]).result(timeout=30) == 6


def test_plain_tcp_client_is_refused_and_the_scheduler_says_why(tls_cluster):
    from distributed import Client

    since = time.time() - 1
    with pytest.raises(OSError):
        Client(f"tcp://127.0.0.1:{tls_cluster['port']}", timeout=5)
    _logged("scheduler", since, "TLS handshake failed", "WRONG_VERSION_NUMBER")


def test_client_without_certificate_is_refused(tls_cluster):
    from distributed import Client

    # Dask itself will not even try without a certificate...
    with pytest.raises(TypeError, match="TLS expects a `ssl_context`"):
        Client(f"tls://127.0.0.1:{tls_cluster['port']}", timeout=5,
               security=_security(CERTS / "ca.pem"))
    # ...and a raw TLS client trusting the CA, with no certificate, is cut off:
    # an alert or a bare end of stream, never an answer.
    since = time.time() - 1
    assert _raw_tls_reply(tls_cluster["port"]) in ("SSLError", "ConnectionError", b"")
    _logged("scheduler", since, "PEER_DID_NOT_RETURN_A_CERTIFICATE")


def _raw_tls_reply(port: int) -> bytes | str:
    ctx = ssl.create_default_context(cafile=str(CERTS / "ca.pem"))
    ctx.check_hostname = False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw) as tls:
                tls.sendall(b"hello")
                return tls.recv(16)
    except ssl.SSLError:
        return "SSLError"
    except ConnectionError:
        return "ConnectionError"


def test_certificate_from_another_ca_is_refused(tls_cluster):
    from distributed import Client

    since = time.time() - 1
    with pytest.raises(OSError):
        Client(f"tls://127.0.0.1:{tls_cluster['port']}", timeout=5,
               security=_security(CERTS / "ca.pem", tls_cluster["rogue"]))
    _logged("scheduler", since, "CERTIFICATE_VERIFY_FAILED")


def test_worker_and_nanny_ports_refuse_plain_connections(tls_cluster):
    since = time.time() - 1
    probe = ("import socket\n"
             "for port in (9000, 9001):\n"
             "    s = socket.create_connection(('worker-1', port), timeout=5)\n"
             "    s.sendall(b'plain text, not TLS\\r\\n' * 4)\n"
             "    s.settimeout(5)\n"
             "    try:\n"
             "        print(port, 'closed' if s.recv(64) == b'' else 'answered')\n"
             "    except ConnectionResetError:\n"
             "        print(port, 'reset')\n")
    code, out = container(PROJECT, "scheduler").exec_run(["python3", "-c", probe])
    assert code == 0, out
    # Each side hung up (a close or a reset) without a byte of Dask protocol.
    got = dict(line.split() for line in out.decode().splitlines())
    assert set(got) == {"9000", "9001"} and set(got.values()) <= {"closed", "reset"}, got
    text = _logged("worker-1", since, "WRONG_VERSION_NUMBER")
    assert text.count("WRONG_VERSION_NUMBER") >= 2
