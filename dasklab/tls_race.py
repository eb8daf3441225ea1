"""A mitigation for a Dask-over-TLS bug the scheduler-loss scenario found.

While the scheduler's container is down, docker-proxy still accepts on the
published loopback port and closes each connection at once. Over tcp:// that
is a closed stream (an OSError), which Dask's connect() retries until the
scheduler is back. Over tls://, tornado's start_tls() meets the already-closed
stream and raises ValueError("IOStream is not idle; cannot convert to SSL")
(tornado#2546), which distributed 2026.8's TLSConnector does not convert: it
escapes the retry loop, the client's reconnect task dies, and the client stays
"connecting" for good (and re-raises it on close).

tolerate() makes that ValueError the closed connection it is (CommClosedError,
an OSError), so the retry loop carries on. Host side only: inside the cluster
network there is no proxy, and a stopped peer refuses the connection.
"""

from __future__ import annotations

MARK = "_dasklab_tls_race"


def tolerate() -> None:
    from distributed.comm import tcp
    from distributed.comm.core import CommClosedError

    original = tcp.TLSConnector.connect
    if getattr(original, MARK, False):
        return

    async def connect(self, address, deserialize=True, **connection_args):
        try:
            return await original(self, address, deserialize, **connection_args)
        except ValueError as e:
            if "IOStream is not idle" not in str(e):
                raise
            raise CommClosedError(f"in {self}: the peer closed the connection before the TLS "
                                  f"handshake ({e})") from e

    setattr(connect, MARK, True)
    tcp.TLSConnector.connect = connect
