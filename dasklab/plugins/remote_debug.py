"""Remote debugging: a worker plugin that starts a debugpy server inside one
worker process, listening on that worker's address on the cluster network
only (never 0.0.0.0, never published). The debugging scenario reaches it from
the scheduler's container.

debugpy.listen() can be called once per process; a second setup (the plugin
registered again) reuses the running server.
"""

from __future__ import annotations

import socket

from distributed.diagnostics.plugin import WorkerPlugin

PORT = 5678


class RemoteDebug(WorkerPlugin):
    name = "dasklab-remote-debug"

    def __init__(self, worker_name: str, port: int = PORT):
        self.worker_name, self.port = worker_name, port

    def setup(self, worker) -> None:
        if str(worker.name) != self.worker_name:
            return
        import debugpy

        host = socket.gethostbyname(socket.gethostname())  # the cluster-network address
        try:
            debugpy.listen((host, self.port))
        except RuntimeError as e:  # already listening in this process
            if "listen() has already been called" not in str(e):
                raise
        worker.log_event("remote-debug", {"listening": f"{host}:{self.port}"})
