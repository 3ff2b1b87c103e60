"""Retrying a check under the ``[checks]`` policy, the one way every check retries.

A check is retried while its result is not ``ok``; when the policy gives up, the last result
is returned (not raised), so that the caller can show what was last observed. The policy is
made of tenacity's small strategies: stop after ``stop_after`` seconds, or (given a
``settled`` predicate) as soon as the cluster can no longer change what the check reads; wait
fixed or exponentially between attempts. A check must only observe: it is called again and
again, and must not change the cluster it looks at.

The first attempt is made before tenacity is loaded: most checks hold at once or read a
settled cluster, and then there is nothing to retry (tenacity costs a run about 10 ms of
imports). The policy, when needed, counts that attempt as its first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from testbed.config import Checks

if TYPE_CHECKING:
    from tenacity.wait import wait_base


class Outcome(Protocol):
    @property
    def ok(self) -> bool: ...


R = TypeVar("R", bound=Outcome)


def wait(checks: Checks) -> wait_base:
    """How long to wait between attempts: fixed, or exponential from ``wait_min`` to
    ``wait_max``."""
    from tenacity import wait_exponential, wait_fixed

    if checks.wait == "exponential":
        return wait_exponential(
            multiplier=checks.wait_min, min=checks.wait_min, max=checks.wait_max
        )
    return wait_fixed(checks.wait_min)


def until_ok(
    attempt: Callable[[], R], checks: Checks, settled: Callable[[], bool] | None = None
) -> R:
    """Call ``attempt`` until its result is ``ok``, ``checks.stop_after`` seconds have passed,
    or (with ``settled``) the cluster can no longer change; the last result wins. An exception
    from ``attempt`` is not retried: it is raised."""
    started = time.monotonic()
    # sampled before the read: a sample taken after it could miss a change in between
    was_settled = settled() if settled is not None else False
    first = attempt()
    if first.ok or was_settled or time.monotonic() - started >= checks.stop_after:
        return first
    return _retry(attempt, first, checks, settled, started)


def _retry(
    attempt: Callable[[], R],
    first: R,
    checks: Checks,
    settled: Callable[[], bool] | None,
    started: float,
) -> R:
    """tenacity's policy, its first attempt being the one already made (its result replayed,
    the cluster not settled before it): the waits, attempt numbers and deadline run on."""
    from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_delay
    from tenacity.stop import stop_base

    class stop_when_settled(stop_base):  # noqa: N801 (named like tenacity's own strategies)
        """Stop once the cluster was settled *before* the last attempt read the state:
        nothing could change what it read, so retrying would only read it again."""

        def __init__(self, settled: Callable[[], bool]) -> None:
            self.settled = settled
            self.was_settled = False

        def sample(self, retry_state: RetryCallState | None = None) -> None:
            if not replay:
                self.was_settled = self.settled()

        def __call__(self, retry_state: RetryCallState) -> bool:
            return self.was_settled

    replay = [first]

    def again() -> R:
        return replay.pop() if replay else attempt()

    stop: Any = stop_after_delay(checks.stop_after - (time.monotonic() - started))
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
    return retrying(again)
