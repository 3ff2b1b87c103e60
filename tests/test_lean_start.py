"""Start-up imports only what the command needs: listing commands load no ZeroMQ, no SQLite,
no cluster machinery and no hosts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "zmq",
    "sqlite3",
    "_sqlite3",
    "multiprocessing",
    "tenacity",
    "hosts",
    "orchestrator.cluster.cluster",
    "orchestrator.cluster.supervisor",
    "orchestrator.cluster.conductor",
    "orchestrator.cluster.state",
    "orchestrator.cluster.api",
    "orchestrator.run.runner",
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


# The command line's modules, one a command (the control commands share one): a command named on
# the command line builds its parser alone and loads no other command's module.
COMMANDS = {
    "run": "run",
    "explore": "explore",
    "sweep": "sweep",
    "up": "control",
    "show": "show",
    "host": "join",
    "points": "points",
    "scenarios": "scenarios",
}
FACES = tuple(sorted({f"orchestrator.cli.{m}" for m in COMMANDS.values()}))
# what every command may load besides its own module: the dispatch and the configuration flags
SHARED = {"orchestrator.cli.main", "orchestrator.cli.options"}
FACES_PROBE = """
import contextlib, io, json, sys
from orchestrator.cli.main import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith("orchestrator.cli."))))
"""


@pytest.mark.parametrize(
    "argv", [["run", "--help"], ["sweep", "--help"], ["points"], ["scenarios"], ["show", "--help"]]
)
def test_a_named_command_builds_its_parser_alone(argv: list[str]) -> None:
    out = subprocess.run(
        [sys.executable, "-c", FACES_PROBE, *argv], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    loaded = set(json.loads(out.stdout))
    own = f"orchestrator.cli.{COMMANDS[argv[0]]}"
    assert {"orchestrator.cli.main", own} <= loaded
    assert loaded - SHARED == {own}


def test_every_command_module_is_listed_here() -> None:
    """A new command's module joins COMMANDS, so that the checks above cover it."""
    from orchestrator.cli import main

    here = Path(main.__file__).parent
    modules = {p.stem for p in here.glob("*.py")} - {"__init__", "__main__"}
    helpers = {"main", "options", "progress", "script"}  # not commands
    assert modules - helpers == set(COMMANDS.values())


def test_every_command_is_still_listed_and_each_parses_alone() -> None:
    from orchestrator.cli.main import PARSERS, build_parser

    def commands(parser: object) -> set[str]:
        (sub,) = (a for a in parser._actions if a.dest == "command")  # type: ignore[attr-defined]
        return set(sub.choices)

    everything = commands(build_parser())
    assert set(PARSERS) < everything  # the control commands too
    assert {"up", "status", "kill", "server"} <= everything
    for name in PARSERS:
        assert commands(build_parser(name)) == {name}
    args = build_parser("run").parse_args(["run", "--tracker", "buggy"])
    assert (args.command, args.tracker, args.func.__name__) == ("run", "buggy", "cmd_run")


def test_a_cluster_started_with_the_collector_off_freezes_and_turns_it_on(make_cluster) -> None:
    """The console script starts with the cyclic GC off (orchestrator.cli.script); the cluster
    freezes what start-up built before forking its hosts, then turns the collector on."""
    import gc

    gc.disable()
    try:
        cluster = make_cluster()
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0
        assert all(cluster.alive(h) for h in cluster.config.cluster.hosts)
    finally:
        gc.unfreeze()
        gc.enable()


def test_the_console_script_runs_the_command_line() -> None:
    code = "import sys; sys.argv = ['testbed', 'points', '--json']\n"
    code += "from orchestrator.cli.script import entry\nentry()"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)


RUN_PROBE = """
import contextlib, io, json, sys
from orchestrator.cli.main import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["run", "--tracker", "fixed", "--run-dir", sys.argv[1]])
print(json.dumps({"code": code, "loaded": sorted(sys.modules)}))
"""
# What a passing `testbed run` needs none of: the other commands, the explorer, the join
# document, the timeline page (written for failing runs).
NOT_FOR_A_RUN = (
    *(f for f in FACES if f != "orchestrator.cli.run"),
    "orchestrator.explore.explorer",
    "orchestrator.holds.explorer_policy",
    "orchestrator.history.timeline",
    "testbed.join",
)


def test_a_passing_run_loads_only_what_it_needs(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", RUN_PROBE, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["code"] == 0
    assert "orchestrator.run.runner" in got["loaded"]
    assert not set(NOT_FOR_A_RUN) & set(got["loaded"])
