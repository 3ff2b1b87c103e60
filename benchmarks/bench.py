"""Both measurements of the testbed in one run: the main job's wall time per tracker
(``main_job.py``) and the conductor's round trip next to raw pyzmq (``rpc.py``).

    python benchmarks/bench.py [--runs 7] [--reps 5] [--cpu N] [--skip-job] [--json]

Each can also run alone: ``python benchmarks/main_job.py``, ``python benchmarks/rpc.py``
(``--help`` on each says what it measures and how). Progress goes to stderr; the summary (or
with --json one JSON object) to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys

import main_job
import rpc
from common import NOVA_TEST_SECONDS, parse


class _SkipJob:
    @staticmethod
    def add_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--skip-job", action="store_true", help="only measure the round trips")


def main(argv: list[str] | None = None) -> int:
    args = parse("bench.py", __doc__, argv, [main_job, rpc, _SkipJob])

    job = None
    if not args.skip_job:
        job = main_job.run(args)
        if job is None:
            return 1
    rtts = rpc.run(args)
    if args.json:
        doc = rpc.versions() | {
            "nova_test_s": NOVA_TEST_SECONDS,
            "nova_test_s_note": "quoted, not measured here",
            "job": job,
            "round_trip": {r["transport"]: r for r in rtts},
        }
        print(json.dumps(doc, indent=2))
    else:
        if job is not None:
            main_job.report(job)
        rpc.report(rtts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
