"""A TCP forwarder: the Swarm stack's gateway (compose/swarm-gateway.yml).

    python -m dasklab.plugins.forward 8786=scheduler:8786 8787=scheduler:8787 ...
    python -m dasklab.plugins.forward --bind 127.0.0.1 8786=10.213.0.11:8786 ...

Swarm publishes a service's ports on every interface of every node; the
lab's scheduler runs whatever it is sent, so the stack publishes nothing.
This process runs in a plain container on the stack's attachable overlay
network, whose ports Docker can publish on 127.0.0.1 only, and copies bytes
both ways. The target name is resolved on every connection, so a scheduler
task rescheduled at a new overlay address is found again.
"""

from __future__ import annotations

import asyncio
import sys

CHUNK = 1 << 16


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except OSError:
            pass


def _handler(host: str, port: int):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
        except (OSError, asyncio.TimeoutError) as e:
            print(f"[forward] {host}:{port} unreachable: {e}", file=sys.stderr, flush=True)
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
    return handle


def parse(spec: str) -> tuple[int, str, int]:
    """'8786=scheduler:8786' -> (8786, 'scheduler', 8786)."""
    listen, sep, target = spec.partition("=")
    host, colon, port = target.rpartition(":")
    if not (sep and colon and host and listen.isdigit() and port.isdigit()):
        raise SystemExit(f"expected LISTEN_PORT=HOST:PORT, got {spec!r}")
    return int(listen), host, int(port)


async def main(specs: list[str], bind: str = "0.0.0.0") -> None:
    servers = []
    for listen, host, port in map(parse, specs):
        servers.append(await asyncio.start_server(_handler(host, port), bind, listen))
        print(f"[forward] :{listen} -> {host}:{port}", file=sys.stderr, flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    args = sys.argv[1:]
    # --bind ADDRESS: the hosts' door (dasklab/backends/hosts) listens on 127.0.0.1 only.
    bind = args.pop(1) if args[:1] == ["--bind"] and len(args) > 1 else "0.0.0.0"
    if args[:1] == ["--bind"]:
        args = args[1:]
    if not args:
        raise SystemExit(__doc__)
    asyncio.run(main(args, bind))
