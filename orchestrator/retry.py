"""Retrying a check under the ``[checks]`` policy, the one way every check retries.

A check is retried while its result is not ``ok``; when the policy gives up, the last result
is returned (not raised), so that the caller can show what was last observed. The policy is
made of tenacity's small strategies: stop after ``stop_after`` seconds, or (given a
``settled`` predicate) as soon as the cluster can no longer change what the check reads; wait
fixed or exponentially between attempts. A check must only observe: it is called again and
again, and must not change the cluster it looks at.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_result,
    stop_after_delay,
    wait_exponential,
    wait_fixed,
)
from tenacity.stop import stop_base
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


class stop_when_settled(stop_base):  # noqa: N801 (named like tenacity's own stop strategies)
    """Stop once the cluster was settled *before* the last attempt read the state: nothing could
    change what it read, so retrying would only read it again. Sampled in ``before`` (a sample
    taken after the read could miss a change that happened in between)."""

    def __init__(self, settled: Callable[[], bool]) -> None:
        self.settled = settled
        self.was_settled = False

    def sample(self, retry_state: RetryCallState | None = None) -> None:
        self.was_settled = self.settled()

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.was_settled


def until_ok(
    attempt: Callable[[], R], checks: Checks, settled: Callable[[], bool] | None = None
) -> R:
    """Call ``attempt`` until its result is ``ok``, ``checks.stop_after`` seconds have passed,
    or (with ``settled``) the cluster can no longer change; the last result wins. An exception
    from ``attempt`` is not retried: it is raised."""
    stop = stop_after_delay(checks.stop_after)
    before = None
    if settled is not None:
        when = stop_when_settled(settled)
        stop, before = stop | when, when.sample
    retrying = Retrying(
        stop=stop,
        wait=wait(checks),
        retry=retry_if_result(lambda r: not r.ok),
        retry_error_callback=lambda state: state.outcome.result(),
        reraise=True,
        **({"before": before} if before else {}),
    )
    return retrying(attempt)
