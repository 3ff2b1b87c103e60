"""Start-up imports only what the command needs: listing commands load no ZeroMQ, no SQLite,
no cluster machinery and no hosts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "zmq",
    "sqlite3",
    "_sqlite3",
    "multiprocessing",
    "tenacity",
    "hosts",
    "orchestrator.cluster",
    "orchestrator.supervisor",
    "orchestrator.conductor",
    "orchestrator.state",
    "orchestrator.api",
    "orchestrator.runner",
    "testbed.transport",
)
# testbed.wire (the JSON envelope, no ZeroMQ) is loaded: the control commands' parsers come from
# their declarations, whose bodies it checks.

# Runs the command in a fresh interpreter as the console script does, then lists what it loaded.
PROBE = """
import contextlib, io, json, sys
from orchestrator.cli.main import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
heavy = tuple(json.loads({heavy!r}))
print(json.dumps({{"code": code, "heavy": sorted(
    m for m in sys.modules if m in heavy or m.startswith(tuple(h + "." for h in heavy)))}}))
"""


@pytest.mark.parametrize(
    "argv", [["--help"], ["points"], ["scenarios"], ["scenarios", "--json"], ["run", "--help"]]
)
def test_listing_commands_load_no_cluster_machinery(argv: list[str]) -> None:
    code = PROBE.format(heavy=json.dumps(HEAVY))
    out = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["code"] in (0, None)
    assert got["heavy"] == []
