"""orchestrator.run.retry: a check is retried until it holds; when the policy gives up, the last
result is returned, not raised."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from orchestrator.run.retry import until_ok
from testbed.config import Checks


@dataclass
class Seen:
    n: int
    ok: bool


def test_retries_until_the_result_holds() -> None:
    calls = []

    def attempt() -> Seen:
        calls.append(1)
        return Seen(len(calls), len(calls) == 3)

    assert until_ok(attempt, Checks(stop_after=5, wait_min=0.001)) == Seen(3, True)


@pytest.mark.parametrize("wait", ["fixed", "exponential"])
def test_gives_up_with_the_last_result(wait: str) -> None:
    calls = []

    def attempt() -> Seen:
        calls.append(1)
        return Seen(len(calls), False)

    last = until_ok(attempt, Checks(stop_after=0.05, wait=wait, wait_min=0.001, wait_max=0.01))
    assert not last.ok and last.n == len(calls) > 1


def test_an_error_is_raised_not_retried() -> None:
    calls = []

    def attempt() -> Seen:
        calls.append(1)
        raise LookupError("gone")

    with pytest.raises(LookupError, match="gone"):
        until_ok(attempt, Checks(stop_after=5, wait_min=0.001))
    assert len(calls) == 1


def test_the_first_attempt_counts_as_the_policys_first() -> None:
    """A check that needs retrying gets its waits and deadline as if the policy had made its
    first attempt: it is not read twice in a row, and the deadline counts from the start."""
    times: list[float] = []

    def attempt() -> Seen:
        times.append(time.monotonic())
        return Seen(len(times), len(times) == 3)

    assert until_ok(attempt, Checks(stop_after=5, wait_min=0.02)) == Seen(3, True)
    assert all(b - a >= 0.015 for a, b in zip(times, times[1:], strict=False))
