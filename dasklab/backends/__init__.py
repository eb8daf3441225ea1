"""The backends: where the lab's containers come from, and the only code that
speaks to Docker (tests/unit/test_layout.py checks it).

    compose/  the Compose project: command lines (project), the resource
              manager (resources), ComposeCluster and its worker containers,
              the preflight before `make up`
    swarm/    the same cluster as a Swarm stack: the stack generator, deploy
              (`make swarm-up/scale/down`), its resource manager
    hosts/    the same stack on N engine hosts of this machine, each in its own
              network namespace (`make hosts-up/down`): node loss, drain
    k8s/      manifests for the dask-kubernetes operator (`make k8s-manifests`)
    base.py   the resource manager interface the nemesis speaks
    docker_api.py  the Docker SDK calls the backends share

A Lab's backend is chosen here, in one place, by name (DASKLAB_BACKEND): the
connection code asks `resources_for(lab)` and imports no backend's resource
manager itself. Each is imported only when chosen.
"""

from __future__ import annotations

import importlib

# name -> "module:function" making the backend's resource manager for a Lab;
# None: no resource manager (any Dask cluster: no faults, no volumes).
_RESOURCES = {
    "compose": "dasklab.backends.compose.resources:for_lab",
    "swarm": "dasklab.backends.swarm.resources:for_lab",
    "hosts": "dasklab.backends.hosts.resources:for_lab",
    "none": None,
}
NAMES = tuple(_RESOURCES)


def resources_for(lab):
    """The resource manager of `lab.backend` for this lab, or None."""
    if lab.backend not in _RESOURCES:
        raise ValueError(f"unknown backend {lab.backend!r}: one of {', '.join(NAMES)}")
    where = _RESOURCES[lab.backend]
    if where is None:
        return None
    module, function = where.split(":")
    return getattr(importlib.import_module(module), function)(lab)
