"""Stops as KeyboardInterrupt, kept for the end of a fork (``orchestrator.cluster.stops``)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from orchestrator.cluster import stops


@pytest.fixture
def installed() -> Iterator[None]:
    before = {sig: signal.getsignal(sig) for sig in stops.STOPS}
    stops.install()
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def test_a_stop_is_a_keyboard_interrupt(installed: None) -> None:
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs as the call returns


def test_a_stop_inside_deferred_comes_at_its_end_after_what_it_did(installed: None) -> None:
    done: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        with stops.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            done.append("after the signal")  # the stop waits for the end of the with
    assert done == ["after the signal"]
    with stops.deferred():  # nothing pending: a quiet with raises nothing
        done.append("quiet")


def test_forking_blocks_the_stops_in_the_thread_then_gives_the_mask_back(installed: None) -> None:
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    with stops.forking():
        assert stops.STOPS <= signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before
