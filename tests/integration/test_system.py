"""The system-under-test seam, from a fresh interpreter: the kernel loads no system until one is
asked for."""

from __future__ import annotations

import subprocess
import sys


def test_the_kernel_loads_no_system_until_one_is_asked_for() -> None:
    code = (
        "import sys, testbed.config, testbed.system;"
        "testbed.config.build([('t', {'cluster': {'system': 'model'}})]);"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'hosts', 'orchestrator'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
