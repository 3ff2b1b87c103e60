"""What a check loads, seen from a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys


def test_a_check_that_holds_at_once_loads_no_retry_policy() -> None:
    code = (
        "import sys\n"
        "from orchestrator.run.retry import until_ok\n"
        "from testbed.config import Checks\n"
        "class R:\n    ok = True\n"
        "until_ok(R, Checks())\n"
        "until_ok(lambda: type('F', (), {'ok': False})(), Checks(), lambda: True)\n"
        "print('tenacity' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
