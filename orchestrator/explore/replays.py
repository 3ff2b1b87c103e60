"""Replay files: one explored schedule, written so that ``testbed run --replay FILE`` runs it
again exactly (its scenario, fixes, explored hosts and the whole cross-host release order,
timer fires included: ``HOST:periodic:fire``, with ``timer_fires`` the budget they had; a
schedule that deadlocked names its cycle under ``deadlock``).

A replay file is TOML; this module only reads and writes it, and must not run anything.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from orchestrator.run.toml_writer import toml_value
from testbed.errors import ConfigError


def write_replay(
    path: Path,
    scenario: str,
    tracker: str,
    hosts: list[str],
    order: list[str],
    line: str,
    ok: bool,
    fixes: list[str] | None = None,
    timer_fires: int = 0,
    deadlock: list[str] | None = None,
) -> str:
    lines = [
        f"scenario = {toml_value(scenario)}",
        f"tracker = {toml_value(tracker)}",  # the fixes' label: fixed, buggy, or a mix
        *([f"fixes = {toml_value(fixes)}"] if fixes is not None else []),
        f"hosts = {toml_value(hosts)}",
        f'outcome = "{"deadlock" if deadlock else "pass" if ok else "fail"}"',
        f"timer_fires = {timer_fires}",
        *([f"deadlock = {toml_value(deadlock)}"] if deadlock else []),
        f"# {line}",
        "order = [",
    ]
    lines += [f"    {toml_value(label)}," for label in order] + ["]", ""]
    path.write_text("\n".join(lines))
    return str(path)


def read_replay(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read replay file '{path}': {exc}") from None
    for key in ("scenario", "tracker", "hosts", "order"):
        if key not in doc:
            raise ConfigError(f"replay file '{path}': missing key '{key}'")
    if not isinstance(doc.setdefault("timer_fires", 0), int) or doc["timer_fires"] < 0:
        raise ConfigError(f"replay file '{path}': 'timer_fires' must be a count (0 or more)")
    if "fixes" in doc and not isinstance(doc["fixes"], list):
        raise ConfigError(f"replay file '{path}': 'fixes' must be a list of bugs")
    for key in ("hosts", "order"):
        if not isinstance(doc[key], list) or not all(isinstance(x, str) for x in doc[key]):
            raise ConfigError(f"replay file '{path}': '{key}' must be a list of names")
    return doc
