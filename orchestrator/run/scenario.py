"""Scenarios are data: a TOML file with the cluster it needs, a list of steps, expectations.

    name = "my-scenario"
    description = "one line"
    outcomes = { fixed = "pass", buggy = "fail" }   # expected outcome per tracker
    bug = "1896463"     # instead: fails with this fix off, passes with it on, whatever the
                        # other fixes are (implies the outcomes above)
    [config]            # any configuration section: cluster, devices, timeouts, checks, delays
    [[steps]]
    do = "create_server"
    server = "vm1"
    may_fail = true     # any step: its tasks may end failed (e.g. cut off by a kill)

Built-in scenarios ship in ``orchestrator/scenarios``. Validation names the step and the key.
Loading must not start anything: a scenario that loads has known steps and fields, and names
only hosts its configuration has and servers an earlier step creates."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.run.steps import REQUIRED, STEPS, StepType
from testbed import fixes, system
from testbed.config import Config, Layer, apply_layer, build, read_toml
from testbed.errors import ConfigError
from testbed.points import POINTS

log = logging.getLogger(__name__)
BUILTIN = Path(__file__).parent.parent / "scenarios"  # package data, installed as plain files


@dataclass
class Step:
    number: int
    do: str
    args: dict[str, Any] = field(default_factory=dict)
    may_fail: bool = False  # its tasks may end failed or lost, its refusal ends nothing

    def __str__(self) -> str:
        args = " ".join(f"{k}={v}" for k, v in self.args.items())
        return f"step {self.number}: {self.do} {args}".rstrip() + (" (may fail)" * self.may_fail)


@dataclass
class Scenario:
    name: str
    description: str
    config: dict[str, Any]
    steps: list[Step]
    outcomes: dict[str, str] = field(default_factory=lambda: {"fixed": "pass", "buggy": "pass"})
    bug: str | None = None  # the one fix that decides the outcome, whatever the others are

    def expected(self, on: list[str] | tuple[str, ...]) -> str | None:
        """The outcome expected with the fixes ``on``; None when the scenario does not say
        (outcomes that differ per tracker, a set of fixes that is neither all nor none)."""
        if self.bug is not None:
            return "pass" if self.bug in on else "fail"
        if set(on) >= set(fixes.ALL):
            return self.outcomes["fixed"]
        if not on or self.outcomes["fixed"] == self.outcomes["buggy"]:
            return self.outcomes["buggy"]
        return None


def builtin_names() -> list[str]:
    return sorted(p.name[:-5] for p in BUILTIN.iterdir() if p.name.endswith(".toml"))


def find(name_or_path: str) -> Path:
    if name_or_path in builtin_names():
        return BUILTIN / f"{name_or_path}.toml"
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        return path
    raise ConfigError(f"unknown scenario '{name_or_path}' (built-in: {', '.join(builtin_names())})")


def _legacy(args: dict[str, Any], kind: StepType, prefix: str) -> dict[str, Any]:
    """Older files wrote "not given" as a value (``to = ""``, ``pci = -1``); such a key is
    now left out. It still means the default, with a one-line notice."""
    out = {}
    for key, value in args.items():
        default = kind.fields.get(key, (None, REQUIRED))[1]
        if default is None and value in ("", -1) and not isinstance(value, bool):
            log.warning("%s: %s = %r is the default now: leave the key out", prefix, key, value)
            continue
        out[key] = value
    return out


def parse(doc: dict[str, Any], where: str) -> Scenario:
    unknown = set(doc) - {"name", "description", "config", "steps", "outcomes", "bug"}
    if unknown:
        raise ConfigError(f"{where}: unknown key '{sorted(unknown)[0]}'")
    raw_steps = doc.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ConfigError(f"{where}: 'steps' must be a non-empty list of [[steps]] tables")
    steps = []
    for n, raw in enumerate(raw_steps, 1):
        if not isinstance(raw, dict) or not isinstance(raw.get("do"), str):
            raise ConfigError(f"{where}: step {n}: missing key 'do'")
        do = raw["do"]
        kind = STEPS.get(do)
        if kind is None:
            raise ConfigError(f"{where}: step {n}: unknown step '{do}' (steps: {', '.join(STEPS)})")
        may_fail = raw.get("may_fail", False)
        if not isinstance(may_fail, bool):
            raise ConfigError(f"{where}: step {n} ({do}): 'may_fail' must be true or false")
        prefix = f"{where}: step {n} ({do})"
        given = {k: v for k, v in raw.items() if k not in ("do", "may_fail")}
        args = kind.action.check(_legacy(given, kind, prefix), prefix)
        steps.append(Step(n, do, args, may_fail))
    config = doc.get("config", {})
    if not isinstance(config, dict):
        raise ConfigError(f"{where}: 'config' must be a table")
    bug = doc.get("bug")
    if bug is not None:
        if not isinstance(bug, str):
            raise ConfigError(f"{where}: 'bug' must be a bug's number as a string, got {bug!r}")
        fixes.check([bug], where)
    default = {"fixed": "pass", "buggy": "fail" if bug else "pass"}
    outcomes = default | doc.get("outcomes", {})
    if set(outcomes) != set(fixes.PRESETS) or not set(outcomes.values()) <= {"pass", "fail"}:
        raise ConfigError(f"{where}: 'outcomes' maps each tracker (buggy, fixed) to pass or fail")
    if bug and outcomes != default:
        raise ConfigError(f"{where}: 'bug = \"{bug}\"' means outcomes fixed = pass, buggy = fail")
    return Scenario(
        str(doc.get("name", where)), str(doc.get("description", "")), config, steps, outcomes, bug
    )


def check_names(scenario: Scenario, config: Config, where: str) -> None:
    """Hosts and servers a step names must exist: hosts in the config, servers created by an
    earlier step."""
    from orchestrator.run.checks import Expect  # here: listing scenarios needs neither

    hosts, servers = set(config.cluster.hosts), set()
    for step in scenario.steps:
        a = step.args
        prefix = f"{where}: step {step.number} ({step.do})"
        for key in ("host", "to"):
            if a.get(key) and a[key] not in hosts:
                raise ConfigError(f"{prefix}: '{key}': unknown host '{a[key]}'")
        try:
            system.check_action(config.cluster.system, step.do)
        except ConfigError as exc:
            raise ConfigError(f"{prefix}: {exc}") from None
        if step.do == "fault" and a["point"] not in POINTS:
            raise ConfigError(f"{prefix}: 'point': unknown injection point '{a['point']}'")
        if step.do == "fault" and not system.fires(config.cluster.system, a["point"]):
            raise ConfigError(
                f"{prefix}: 'point': system '{config.cluster.system}' never reaches "
                f"'{a['point']}'"
            )
        if step.do == "slow" and a.get("drop", 0.0) > 1:
            raise ConfigError(f"{prefix}: 'drop' is a fraction (0 to 1)")
        for text in a.get("expect", []):
            try:
                e = Expect.parse(text)
            except ConfigError as exc:
                raise ConfigError(f"{prefix}: 'expect': {exc}") from None
            if e.host not in hosts:
                raise ConfigError(f"{prefix}: 'expect': unknown host '{e.host}'")
            if e.server not in servers:
                raise ConfigError(
                    f"{prefix}: 'expect': server '{e.server}' is never created before"
                )
        if step.do == "create_server":
            servers.add(a["server"])
        elif "server" in a and a["server"] not in servers:
            raise ConfigError(f"{prefix}: 'server': '{a['server']}' is never created before")


def load(name_or_path: str) -> Scenario:
    """The scenario alone; its ``[config]`` is checked for unknown keys and types."""
    path = find(name_or_path)
    where = f"scenario '{name_or_path}'"
    scenario = parse(read_toml(path), where)
    probe = Config()
    apply_layer(probe, scenario.config, f"{where} [config]")
    return scenario


def load_with_config(name_or_path: str, *layers: Layer) -> tuple[Scenario, Config]:
    """The scenario and the configuration it runs with: defaults, the scenario's ``[config]``,
    then ``layers`` (later wins), validated; the hosts and servers its steps name are checked
    against that configuration. The one way the command line and the pytest plugin assemble a
    run."""
    scenario = load(name_or_path)
    where = f"scenario '{name_or_path}'"
    config = build([(f"{where} [config]", scenario.config), *layers])
    check_names(scenario, config, where)
    return scenario, config
