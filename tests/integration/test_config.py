"""The configuration on the command line, from a fresh interpreter."""

import subprocess
import sys
from pathlib import Path

from testbed.points import POINTS

CLI_TIMEOUT = 60  # bound on one CLI run (they take well under a second)


def cli_command():
    script = Path(sys.executable).parent / "testbed"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "orchestrator.cli"]


def run_console_script(*args, cwd):
    """The installed ``testbed`` script itself (the other CLI cases run ``main`` in process)."""
    return subprocess.run(
        [*cli_command(), *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        cwd=cwd,
    )


def test_cli_points_lists_every_point_by_path(tmp_path):
    proc = run_console_script("points", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    rows, path = {}, None
    for line in proc.stdout.splitlines():
        if not line.startswith(" "):
            path = line.split()[0]
            continue
        name, _, rest = line.strip().partition(" ")
        rows[name] = (path, rest.strip())
    assert set(rows) == set(POINTS)
    for name, p in POINTS.items():
        assert rows[name] == (p.path, f"{p.doc}  [{p.before}]")
    for name in ("instance.drop_migration_context", "migration_list.get_in_progress_and_error"):
        assert "Nova's test sleeps" in rows[name][1]
