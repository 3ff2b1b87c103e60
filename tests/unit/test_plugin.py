"""The pytest plugin as installed: its entry point, its help and marker."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest


def run_inprocess(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """An inner session in this process (no interpreter start-up), for sessions that start no
    cluster: one that did would leave its modules and log handlers to the next test here.
    The plugin is loaded by its entry point's name, as ``-p`` does for subprocess sessions."""
    named = [p for p in pytester.plugins if isinstance(p, str)]
    pytester.plugins = [p for p in pytester.plugins if not isinstance(p, str)]
    try:
        return pytester.runpytest_inprocess(*[a for n in named for a in ("-p", n)], *args)
    finally:
        pytester.plugins[:0] = named


# -- discovery: options, ini keys and marker from the installed plugin ----------------------


def test_plugin_is_installed_as_pytest11_entry_point() -> None:
    found = {e.name: e.value for e in entry_points(group="pytest11")}
    assert found.get("testbed") == "orchestrator.pytest_plugin"


def test_help_and_markers_show_the_plugin(pytester: pytest.Pytester) -> None:
    result = run_inprocess(pytester, "--help")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "testbed clusters*",
            "*--testbed-config=FILE*",
            "*--testbed-tracker={buggy,fixed}*",
            "*--testbed-delay=HOST:POINT=S*",
            "*--testbed-check-timeout=SECONDS*",
        ]
    )
    for ini in ("testbed_config", "testbed_tracker", "testbed_delays (linelist)"):
        result.stdout.fnmatch_lines([f"  {ini}*"])
    result.stdout.fnmatch_lines(["  testbed_check_timeout*"])
    markers = run_inprocess(pytester, "--markers")
    assert markers.ret == 0
    markers.stdout.fnmatch_lines(["@pytest.mark.testbed(hosts=*devices=N*): configure the clus*"])
