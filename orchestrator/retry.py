"""Retry policies for checks, built from the ``[checks]`` section as tenacity strategies."""

from __future__ import annotations

from typing import Any

from tenacity import stop_after_delay, wait_exponential, wait_fixed

from testbed.config import Checks


def policy(checks: Checks) -> dict[str, Any]:
    """Keyword arguments for ``tenacity.Retrying``: when to stop and how long to wait."""
    if checks.wait == "exponential":
        wait = wait_exponential(
            multiplier=checks.wait_min, min=checks.wait_min, max=checks.wait_max
        )
    else:
        wait = wait_fixed(checks.wait_min)
    return {"stop": stop_after_delay(checks.stop_after), "wait": wait, "reraise": True}
