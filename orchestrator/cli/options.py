"""The configuration flags of the faces: ``--config``, ``--set``, ``--delay``, ``--tracker``,
``--fix``, ``--no-fix`` (and the pytest plugin's options and ini keys), declared once and turned
into configuration layers, named so that an error says which flag it came from.

It only parses flags into layers; the schema, the layering and the checks are
``testbed.config``'s. Cheap to import: the pytest plugin loads it in every session, and each
command that takes a configuration loads it before anything heavy.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from testbed.config import Config, Layer, build, key_path, read_toml
from testbed.errors import ConfigError
from testbed.fixes import ALL as FIX_NAMES
from testbed.fixes import PRESETS
from testbed.points import parse_address


def config_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("configuration (later wins: scenario, --config, --set, --delay)")
    g.add_argument("--config", metavar="FILE", help="TOML configuration file")
    g.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one key, e.g. timeouts.rpc=5 or checks.stop_after=2",
    )
    g.add_argument(
        "--delay",
        dest="delays",
        action="append",
        default=[],
        metavar="HOST:POINT=SECONDS",
        help="delay a host at a point (* = every host)",
    )
    g.add_argument(
        "--tracker",
        choices=tuple(PRESETS),
        help="every named fix on (fixed) or off (buggy); --fix/--no-fix apply on top",
    )
    g.add_argument(
        "--fix",
        action="append",
        default=[],
        metavar="BUG",
        help=f"turn one bug's fix on (repeatable; bugs: {', '.join(FIX_NAMES)})",
    )
    g.add_argument(
        "--no-fix",
        dest="no_fix",
        action="append",
        default=[],
        metavar="BUG",
        help="turn one bug's fix off (repeatable)",
    )
    g.add_argument(
        "--no-history",
        action="store_true",
        help="record no history.jsonl (same as --set cluster.history=false)",
    )


# Turns the footprint check on for every run of this process and its children (the test suite
# sets it, so that every cluster a test starts checks what it touches): a layer under all others.
CHECK_FOOTPRINTS_ENV = "TESTBED_CHECK_FOOTPRINTS"
CHECK_FOOTPRINTS = {"cluster": {"check_footprints": True}}


def check_footprints_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--check-footprints",
        action="store_true",
        help="record what each conductor request touches; an access outside its operation's "
        "footprint fails the run (same as --set cluster.check_footprints=true)",
    )


def scenario_args(
    p: argparse.ArgumentParser, default: str | None = "evacuate-race", what: str = "to run"
) -> None:
    p.add_argument(
        "scenario",
        nargs="?",
        default=default,
        help=f"the scenario {what}: a built-in name or a TOML file (default: evacuate-race)",
    )
    config_args(p)


def parse_set(text: str) -> dict[str, Any]:
    """``--set section.key=value`` (or ``section.table.key=value``) as a one-key layer."""
    key, sep, value = text.partition("=")
    parts = key_path(key)
    if not sep or len(parts) < 2 or not all(parts):
        raise ConfigError(f"--set '{text}' is not SECTION.KEY=VALUE (e.g. timeouts.rpc=3)")
    layer: dict[str, Any] = {}
    node = layer
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value.strip()
    return layer


def parse_delay(text: str) -> dict[str, Any]:
    """``--delay HOST:POINT=SECONDS`` as a one-key layer."""
    key, sep, value = text.partition("=")
    if not sep:
        raise ConfigError(f"--delay '{text}' is not HOST:POINT=SECONDS")
    parse_address(key.strip())
    return {"delays": {key.strip(): value.strip()}}


def option_layers(
    config_file: str | Path | None = None,
    sets: Iterable[str] = (),
    delays: Iterable[str] = (),
    tracker: str | None = None,
    check_timeout: str | None = None,
    fix: Iterable[str] = (),
    no_fix: Iterable[str] = (),
    where: str = "",
) -> list[Layer]:
    """Options as layers, in the order they apply: the configuration file, each ``--set``,
    each ``--delay``, the tracker, the check timeout (``checks.stop_after``), then each
    ``--fix`` and ``--no-fix``. ``where`` names where they came from ("ini ", "command line ")
    in front of each layer's name."""
    layers: list[Layer] = []
    if os.environ.get(CHECK_FOOTPRINTS_ENV, "") not in ("", "0"):
        layers.append((f"environment {CHECK_FOOTPRINTS_ENV}", CHECK_FOOTPRINTS))
    if config_file:
        layers.append((f"{where}config file '{config_file}'", read_toml(config_file)))
    layers += [(f"{where}--set '{text}'", parse_set(text)) for text in sets]
    layers += [(f"{where}--delay '{text}'", parse_delay(text)) for text in delays]
    if tracker:
        layers.append((f"{where}--tracker", {"cluster": {"tracker": tracker}}))
    if check_timeout:
        layers.append((f"{where}check timeout", {"checks": {"stop_after": check_timeout}}))
    layers += [(f"{where}--fix '{bug}'", {"cluster": {"fix": [bug]}}) for bug in fix]
    layers += [(f"{where}--no-fix '{bug}'", {"cluster": {"no_fix": [bug]}}) for bug in no_fix]
    return layers


def load(
    layers: Iterable[Layer] = (),
    config_file: str | Path | None = None,
    sets: Iterable[str] = (),
    delays: Iterable[str] = (),
    tracker: str | None = None,
    fix: Iterable[str] = (),
    no_fix: Iterable[str] = (),
) -> Config:
    """Defaults, then ``layers`` (e.g. a scenario's), the file, ``--set``, ``--delay``, tracker,
    ``--fix``, ``--no-fix``."""
    return build(
        [*layers, *option_layers(config_file, sets, delays, tracker, fix=fix, no_fix=no_fix)]
    )


def scenario_and_config(args: argparse.Namespace, name: str) -> tuple[Any, Any]:
    """The scenario ``name`` and its configuration under the command line's flags
    (``config_args``)."""
    from orchestrator.run.scenario import load_with_config

    layers = option_layers(
        args.config, args.sets, args.delays, args.tracker, fix=args.fix, no_fix=args.no_fix
    )
    if getattr(args, "check_footprints", False):
        layers.append(("--check-footprints", CHECK_FOOTPRINTS))
    if getattr(args, "timer_fires", None) is not None:
        layers.append(("--timer-fires", {"explore": {"timer_fires": args.timer_fires}}))
    return load_with_config(name, *layers)
