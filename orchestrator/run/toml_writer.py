"""Writing TOML, which the standard library reads but does not write: the scenario files the
minimiser emits and the replay files the explorer keeps. Plain values, lists, inline tables,
``[config.SECTION]`` tables and ``[[steps]]``; nothing else is needed, and nothing here reads
or runs what it writes.
"""

from __future__ import annotations

from typing import Any


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} as TOML")


def toml_key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else toml_value(k)


def scenario_toml(
    name: str,
    description: str,
    outcomes: dict[str, str],
    config: dict[str, dict[str, Any]],
    steps: list[dict[str, Any]],
    comment: list[str] = (),  # type: ignore[assignment]
    bug: str | None = None,
) -> str:
    lines = [f"# {c}" for c in comment]
    lines += [f"name = {toml_value(name)}", f"description = {toml_value(description)}"]
    lines += [f"outcomes = {toml_value(outcomes)}"]
    lines += [f"bug = {toml_value(bug)}", ""] if bug else [""]
    for section, table in config.items():
        if not table:
            continue
        lines.append(f"[config.{section}]")
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items()]
        lines.append("")
    for step in steps:
        lines.append("[[steps]]")
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in step.items()]
        lines.append("")
    return "\n".join(lines)
