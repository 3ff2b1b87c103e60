"""``testbed points``: the injection points, by path (``testbed.points``' catalogue)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from testbed.points import CATALOGUE, PATHS


def add_parser(sub: Any) -> None:
    points = sub.add_parser("points", help="list the injection points, by path")
    points.add_argument(
        "--json", action="store_true", help="print a JSON list of {name, path, before, doc}"
    )
    points.set_defaults(func=cmd_points)


def cmd_points(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps([p.to_dict() for p in CATALOGUE], indent=2))
        return 0
    width = max(len(p.name) for p in CATALOGUE)
    for path, what in PATHS.items():
        print(f"{path}  ({what})")
        for p in (p for p in CATALOGUE if p.path == path):
            print(f"  {p.name:<{width}}  {p.doc}  [{p.before}]")
    return 0
