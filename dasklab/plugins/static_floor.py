"""Static floor, a scheduler plugin that ComposeCluster registers.

The compose services worker-1..3 are the lab's fixed floor: an adaptive
ComposeCluster may retire only the workers it started. The scheduler's
`workers_to_close` (which Adaptive asks for candidates) consults plugins'
`valid_workers_downscaling`; this plugin takes the static workers out of
that list, so the scheduler picks the idlest *elastic* workers instead of
offering a static one that the cluster would then have to refuse.
"""

from __future__ import annotations

from distributed.diagnostics.plugin import SchedulerPlugin

NAME = "dasklab-static-floor"


class StaticFloor(SchedulerPlugin):
    name = NAME

    def __init__(self, static_names):
        self.static_names = frozenset(str(n) for n in static_names)

    def valid_workers_downscaling(self, scheduler, workers):
        return [ws for ws in workers if str(ws.name) not in self.static_names]
