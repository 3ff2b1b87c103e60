"""Retrying a check under the ``[checks]`` policy, the one way every check retries.

A check is retried while its result is not ``ok``; when the policy gives up, the last result
is returned (not raised), so that the caller can show what was last observed. A check must
only observe: it is called again and again, and must not change the cluster it looks at.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from tenacity import (
    Retrying,
    retry_if_result,
    stop_after_delay,
    wait_exponential,
    wait_fixed,
)
from tenacity.wait import wait_base

from testbed.config import Checks


class Outcome(Protocol):
    @property
    def ok(self) -> bool: ...


R = TypeVar("R", bound=Outcome)


def wait(checks: Checks) -> wait_base:
    """How long to wait between attempts: fixed, or exponential from ``wait_min`` to
    ``wait_max``."""
    if checks.wait == "exponential":
        return wait_exponential(
            multiplier=checks.wait_min, min=checks.wait_min, max=checks.wait_max
        )
    return wait_fixed(checks.wait_min)


def until_ok(attempt: Callable[[], R], checks: Checks) -> R:
    """Call ``attempt`` until its result is ``ok`` or ``checks.stop_after`` seconds have
    passed; the last result wins. An exception from ``attempt`` is not retried: it is raised."""
    retrying = Retrying(
        stop=stop_after_delay(checks.stop_after),
        wait=wait(checks),
        retry=retry_if_result(lambda r: not r.ok),
        retry_error_callback=lambda state: state.outcome.result(),
        reraise=True,
    )
    return retrying(attempt)
