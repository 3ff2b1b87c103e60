"""A host-model variant with a bug planted on the recovery path: ``init_host`` forgets the
evacuations to this host that its crash cut off (Nova's fails them and frees their claims).
Only a kill after the destination's claim shows it: the claim outlives the evacuation.

Used as ``cluster.host_entry = "planted_recovery:main"`` (``tests/`` is on the path of the
test session and of the hosts it forks)."""

from __future__ import annotations

from typing import Any

from hosts import process
from hosts.model import manager


def main(*args: Any) -> None:
    manager.ComputeManager._fail_interrupted_evacuations = lambda self: None
    process.main(*args)
