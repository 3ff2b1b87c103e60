"""``testbed scenarios``: the built-in scenarios and what each one is for."""

from __future__ import annotations

import argparse
import json
from typing import Any

from orchestrator.run.render import listing


def add_parser(sub: Any) -> None:
    scenarios = sub.add_parser("scenarios", help="list the built-in scenarios")
    scenarios.add_argument("--json", action="store_true", help="print one JSON object")
    scenarios.set_defaults(func=cmd_scenarios)


def cmd_scenarios(args: argparse.Namespace) -> int:
    from orchestrator.run import scenario as sc

    docs = {n: sc.load(n).description for n in sc.builtin_names()}
    print(json.dumps(docs, indent=2) if args.json else "\n".join(listing(docs)))
    return 0
