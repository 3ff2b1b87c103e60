"""Scenario steps: the scenario face of the user actions (``orchestrator.run.actions``).

A step is an action a scenario may name in ``do = ...``; its fields are the action's. A step
returns a ``CheckResult`` when it checks something; the runner stops at the first check that
fails and ignores anything else a step returns (a control command's answer)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.run.action import SCENARIO, Action
from orchestrator.run.actions import of

if TYPE_CHECKING:
    from orchestrator.run.checks import CheckResult

REQUIRED = object()


@dataclass(frozen=True)
class StepType:
    run: Callable[..., CheckResult | None]
    fields: dict[str, tuple[type, Any]]  # name -> (type, default or REQUIRED)
    doc: str
    action: Action


STEPS: dict[str, StepType] = {
    a.name: StepType(
        a.run,
        {n: (f.type, REQUIRED if f.required else f.default) for n, f in a.fields.items()},
        a.doc,
        a,
    )
    for a in of(SCENARIO)
}
