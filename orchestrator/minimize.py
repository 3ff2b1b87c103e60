"""From a losing schedule to a regression test: the fewest ``[holds]`` orderings that still
make the run lose, written back as a scenario file.

A losing schedule orders every step of every task. The orderings that can matter are those
between dependent steps of different tasks (their footprints meet); each becomes a candidate
``[holds]`` rule: hold the later step's point until the earlier step's point has passed.
Delta debugging (Zeller and Hildebrandt, "Simplifying and isolating failure-inducing input",
2002) then removes candidates while the run still loses. This module only decides and writes:
running a scenario is the caller's ``test``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def ddmin(items: Sequence[T], fails: Callable[[list[T]], bool]) -> list[T]:
    """A 1-minimal subset of ``items`` for which ``fails`` still holds (``fails(items)`` must):
    removing any one more item makes it pass."""
    if fails([]):
        return []
    current, n = list(items), 2
    while len(current) >= 2:
        size = len(current) // n
        chunks = [current[i : i + size] for i in range(0, len(current), size)]
        for chunk in chunks:
            if fails(chunk):  # a subset alone still fails
                current, n = chunk, 2
                break
        else:
            for k in range(len(chunks)):
                rest = [x for j, c in enumerate(chunks) if j != k for x in c]
                if fails(rest):  # the complement of one chunk still fails
                    current, n = rest, max(n - 1, 2)
                    break
            else:
                if n >= len(current):
                    break
                n = min(n * 2, len(current))
    return current


# -- writing a scenario back as TOML (the standard library reads TOML but does not write it) --
def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} as TOML")


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else _value(k)


def scenario_toml(
    name: str,
    description: str,
    outcomes: dict[str, str],
    config: dict[str, dict[str, Any]],
    steps: list[dict[str, Any]],
    comment: list[str] = (),  # type: ignore[assignment]
) -> str:
    lines = [f"# {c}" for c in comment]
    lines += [f"name = {_value(name)}", f"description = {_value(description)}"]
    lines += [f"outcomes = {_value(outcomes)}", ""]
    for section, table in config.items():
        if not table:
            continue
        lines.append(f"[config.{section}]")
        lines += [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
        lines.append("")
    for step in steps:
        lines.append("[[steps]]")
        lines += [f"{_key(k)} = {_value(v)}" for k, v in step.items()]
        lines.append("")
    return "\n".join(lines)
