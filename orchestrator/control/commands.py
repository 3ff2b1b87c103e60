"""The control commands: the control face of the user actions (``orchestrator.run.actions``),
what ``testbed status``, ``testbed kill host1``, ... ask of a running cluster (``testbed up``).

Each action the control face offers is an operation of the control server under its
kebab-case name, with the action's fields as its body: the body is checked as a request's,
then as the action's (the one check a scenario's step gets too), and the action's answer is
the reply. ``orchestrator.cli.control`` derives the command line's parsers from the same
actions. Importing this module must stay cheap (no ZeroMQ, no SQLite): the command line
builds its parsers from it before it knows whether it will talk to anybody.
"""

from __future__ import annotations

from typing import Any

from orchestrator.run.action import CONTROL, Action
from orchestrator.run.actions import of
from testbed import system
from testbed.operations import Operation, Operations

COMMANDS = Operations("control")


def _handler(a: Action) -> Any:
    def handle(c: Any, **args: Any) -> Any:
        args = a.check(args, a.command)
        system.check_action(c.config.cluster.system, a.name)
        return a.answer(c, a.run(c, **args), **args)

    return handle


for _a in of(CONTROL):
    COMMANDS.add(Operation(_a.command, _handler(_a), _a.fields, _a.doc, {"action": _a}))
