"""``testbed points``: the injection points, by path (``testbed.points``' catalogue); with
``--set cluster.system=NAME``, those that system's hosts fire (the registry says which, without
loading the system)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from testbed import system
from testbed.points import CATALOGUE, PATHS


def add_parser(sub: Any) -> None:
    points = sub.add_parser("points", help="list the injection points, by path")
    points.add_argument(
        "--json", action="store_true", help="print a JSON list of {name, path, before, doc}"
    )
    points.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config key; cluster.system=NAME lists the points that system fires",
    )
    points.set_defaults(func=cmd_points)


def cmd_points(args: argparse.Namespace) -> int:
    from orchestrator.cli.options import load

    name = load(sets=args.set).cluster.system if args.set else system.DEFAULT
    shown = [p for p in CATALOGUE if system.fires(name, p.name)]
    if args.json:
        print(json.dumps([p.to_dict() for p in shown], indent=2))
        return 0
    width = max(len(p.name) for p in shown)
    for path, what in PATHS.items():
        if not any(p.path == path for p in shown):
            continue
        print(f"{path}  ({what})")
        for p in (p for p in shown if p.path == path):
            print(f"  {p.name:<{width}}  {p.doc}  [{p.before}]")
    return 0
