"""Way (d) of the scoring use case: a worker plugin that loads a model into
the worker process's cache before the worker runs any task.

It carries only the model's path (content-addressed: the name holds its
sha256), never the model: the scheduler keeps registered plugins and sends
them to every worker that (re)starts, so a plugin holding the model would
ship its bytes again on every restart. The load runs in a thread, off the
worker's event loop: a big download and unpickle would otherwise stall its
heartbeats.
"""

from __future__ import annotations

import asyncio

from distributed.diagnostics.plugin import WorkerPlugin

NAME = "dasklab-model-cache"


class ModelCache(WorkerPlugin):
    # Registering the same model again (a second scenario run) is a no-op;
    # another model gets another name, so the two never shadow each other.
    idempotent = True

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = f"{NAME}-{path.rsplit('/', 1)[-1]}"

    async def setup(self, worker) -> None:
        from scenarios.scoring.model import cached

        await asyncio.get_running_loop().run_in_executor(None, cached, self.path)
        worker.log_event("model-cache", {"loaded": self.path})
