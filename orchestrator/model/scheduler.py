"""A small scheduler: the up host with the most free PCI devices that fits the request.

Its pick is advice: it must not reserve anything (the host's claim decides, under its lock)."""

from __future__ import annotations

from collections.abc import Iterable

from testbed.errors import ApiError


def pick_host(
    free: dict[str, int], up: Iterable[str], count: int, exclude: str | None = None
) -> str:
    """``free``: free devices per host. Ties go to the first name in order."""
    fits = sorted(
        (h for h in up if h != exclude and free.get(h, 0) >= count), key=lambda h: (-free[h], h)
    )
    if not fits:
        raise ApiError(
            f"no valid host: no up host with {count} free PCI device(s)"
            + (f" other than {exclude}" if exclude else "")
        )
    return fits[0]
