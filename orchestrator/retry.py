"""Retry policies for checks, built from the ``[checks]`` section as tenacity strategies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tenacity import RetryCallState, stop_after_delay, wait_exponential, wait_fixed
from tenacity.stop import stop_base

from testbed.config import Checks


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


def policy(checks: Checks, settled: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``tenacity.Retrying``: when to stop and how long to wait. With
    ``settled``, a failing attempt also stops as soon as the cluster can no longer change."""
    if checks.wait == "exponential":
        wait = wait_exponential(
            multiplier=checks.wait_min, min=checks.wait_min, max=checks.wait_max
        )
    else:
        wait = wait_fixed(checks.wait_min)
    kwargs: dict[str, Any] = {"stop": stop_after_delay(checks.stop_after), "wait": wait}
    if settled is not None:
        when = stop_when_settled(settled)
        kwargs |= {"stop": kwargs["stop"] | when, "before": when.sample}
    return kwargs | {"reraise": True}
