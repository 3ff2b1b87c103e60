"""The model with one conductor operation's footprint declared narrower than what its handler
touches: the check of footprints (``cluster.check_footprints``) must fail a run on it, naming
the operation.

Each variant is an orchestrator side of the seam (``testbed.system.OrchestratorSystem``): the
model's, whose operations are the model's own but one, declared again with a narrower
footprint. A test registers it under a name of its own (``testbed.system.SYSTEMS``) and runs
it with ``cluster.system`` set to that name; the hosts are the model's.
"""

from __future__ import annotations

import dataclasses

from orchestrator.cluster.footprint import Footprint, reads, writes
from orchestrator.model.conductor import OPS, PCI_DEVICES
from orchestrator.model.system import ModelSystem
from testbed.operations import Operations


def narrowed(op: str, footprint: Footprint) -> ModelSystem:
    ops = Operations("conductor", requires=("footprint",))
    for o in OPS:
        meta = o.meta | {"footprint": footprint} if o.name == op else o.meta
        ops.add(dataclasses.replace(o, meta=meta))
    system = ModelSystem()
    system.ops = ops
    return system


# pci.save sets status and instance_uuid: declared without instance_uuid
PCI_SAVE_COLUMN = narrowed(
    "pci.save", lambda b: [writes(PCI_DEVICES, "status", host=b["host"]), *_nodes(b)]
)
# pci.get reads every device of the host: declared as the available ones only
PCI_GET_ROWS = narrowed(
    "pci.get", lambda b: [reads(PCI_DEVICES, host=b["host"], status="available")]
)


def _nodes(body: dict) -> list:
    return OPS.find("pci.save").meta["footprint"](body)[1:]
