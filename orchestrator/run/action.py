"""What a user action is, and how one is declared; ``orchestrator.run.actions`` is the table.

A scenario step (``do = "create_server"`` in TOML) and a control command (``testbed
create-server`` against ``testbed up``) are the same action: one function of the cluster,
its fields read from its signature (required unless they have a default; ``None`` is "not
given", never a sentinel value), its values checked by ``testbed.fields`` whichever face
they came through. The name is snake_case in a scenario and the same in kebab-case on the
command line. Each action says which faces offer it:

- ``BOTH``: most actions.
- ``SCENARIO`` only: ``sleep`` (a shell has its own).
- ``CONTROL`` only: ``status`` (a scenario's run prints its own) and ``join`` (what a joining
  host asks, never typed).

``orchestrator.run.steps`` (the scenario face) and ``orchestrator.control.commands`` (the
control face, and through it the command line's parsers) are derived from the table.
Importing this module must stay cheap (no ZeroMQ, no SQLite): the command line builds its
parsers from it. It must not import the control layer or the command line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from testbed.errors import ConfigError
from testbed.fields import FieldError
from testbed.fields import check as check_value
from testbed.operations import Field, signature_fields

SCENARIO, CONTROL = "scenario", "control"
BOTH = (SCENARIO, CONTROL)


def _same(c: Any, result: Any, **args: Any) -> Any:
    return result


@dataclass(frozen=True)
class Action:
    name: str  # snake_case: the step's name; the command's is kebab-case
    run: Callable[..., Any]  # the cluster, then the fields
    fields: dict[str, Field]
    doc: str
    faces: tuple[str, ...] = BOTH
    help: dict[str, str] = field(default_factory=dict)  # a field's help on the command line
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)  # a field's only values
    say: str = ""  # the command's line: str.format of the fields and the answer (``out``)
    answer: Callable[..., Any] = _same  # the command's answer from what ``run`` returned
    aliases: tuple[str, ...] = ()  # older command-line names, still taken, with a notice
    cli: bool = True  # offered on the command line (``join`` is asked by other commands)

    @property
    def command(self) -> str:
        return self.name.replace("_", "-")

    def check(self, args: Mapping[str, Any], where: str) -> dict[str, Any]:
        """``args`` checked against the fields: no unknown key, every required one, each
        value of its type (numbers not negative) and among its choices; a ``ConfigError``
        starting with ``where`` names the key."""
        for key in args:
            if key not in self.fields:
                raise ConfigError(f"{where}: unknown key '{key}'")
        for f in self.fields.values():
            if f.required and f.name not in args:
                raise ConfigError(f"{where}: missing key '{f.name}'")
        out = {}
        for key, value in args.items():
            tp = self.fields[key].type
            try:
                out[key] = check_value(value, list[str] if tp is list else tp, bounded=True)
            except FieldError as exc:
                raise ConfigError(f"{where}: '{key}' {exc}") from None
            allowed = self.choices.get(key)
            if allowed and value not in allowed:
                raise ConfigError(
                    f"{where}: '{key}' must be one of {', '.join(allowed)}, got '{value}'"
                )
        return out


ACTIONS: dict[str, Action] = {}


def action(
    name: str, doc: str, faces: tuple[str, ...] = BOTH, **face: Any
) -> Callable[[Callable], Callable]:
    """Declare a user action: ``name`` (snake_case), what it does, the faces that offer it,
    and for the command line ``help``, ``choices``, ``say``, ``answer``, ``aliases``,
    ``cli`` (see ``Action``). Its fields are the function's parameters after the cluster."""

    def declare(fn: Callable) -> Callable:
        if name in ACTIONS:
            raise TypeError(f"action {name} is declared twice")
        ACTIONS[name] = Action(name, fn, signature_fields(fn, f"action {name}"), doc, faces, **face)
        return fn

    return declare
