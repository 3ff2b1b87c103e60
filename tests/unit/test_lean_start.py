"""Each command builds its parser alone."""

from __future__ import annotations


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
