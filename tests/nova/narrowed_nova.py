"""The nova system with one derived footprint narrower than what Nova's call touches: the
check of footprints (``cluster.check_footprints``) must fail a run on it, naming the call.

An orchestrator side of the seam (``testbed.system.OrchestratorSystem``): the nova system's,
whose ``object_action`` footprint leaves out what ``Instance.save`` writes of the instance's
``instance_extra`` row (its ``pci_requests``, which Nova's save writes every time). A test
registers it under a name of its own (``testbed.system.SYSTEMS``); the hosts are the nova
system's."""

from __future__ import annotations

import dataclasses
from typing import Any

from orchestrator.cluster.footprint import Access
from orchestrator.nova import footprint
from orchestrator.nova.conductor import OPS
from orchestrator.nova.system import NovaSystem
from testbed.operations import Operations


def without_extra(body: dict[str, Any]) -> list[Access]:
    found = footprint.object_action(body)
    if footprint.call(body) != "Instance.save":
        return found
    return [a for a in found if not (a.write and a.table == "instance_extra")]


def narrowed(op: str, fn: Any) -> NovaSystem:
    ops = Operations("conductor", requires=("footprint",))
    for o in OPS:
        ops.add(dataclasses.replace(o, meta=o.meta | {"footprint": fn}) if o.name == op else o)
    system = NovaSystem()
    system.ops = ops
    return system


INSTANCE_SAVE = narrowed("object_action", without_extra)
