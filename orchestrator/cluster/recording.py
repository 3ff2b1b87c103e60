"""What the cluster tells whoever records its run (the run's history, which its caller hands
it): each host's start and its record pipe, every conductor request, every write to the state.

The cluster knows its recorder only by this protocol, so it imports nothing from the history;
without one it records nothing (``Unrecorded``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from testbed import wire

Handle = Callable[[wire.Message, tuple[bytes, ...]], Any]


class Recorder(Protocol):
    enabled: bool

    def write(self, kind: str, **fields: Any) -> None: ...
    def step(
        self, number: int, do: str, args: dict[str, Any]
    ) -> contextlib.AbstractContextManager[dict[str, Any]]: ...
    def on_write(self, table: str, key: str, diff: dict[str, list[Any]]) -> None: ...
    def conductor(self, handle: Handle) -> Handle: ...
    def pipe(self, host: str) -> int: ...
    def started(self, host: str, proc: Any, incarnation: int) -> None: ...
    def discard(self) -> None: ...
    def close(self) -> None: ...


class Unrecorded:
    """Records nothing: every hook is a no-op (a host gets no record pipe)."""

    enabled = False

    def write(self, kind: str, **fields: Any) -> None:
        pass

    @contextlib.contextmanager
    def step(self, number: int, do: str, args: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield {}

    def on_write(self, table: str, key: str, diff: dict[str, list[Any]]) -> None:
        pass

    def conductor(self, handle: Handle) -> Handle:
        return handle

    def pipe(self, host: str) -> int:
        return -1

    def started(self, host: str, proc: Any, incarnation: int) -> None:
        pass

    def discard(self) -> None:
        pass

    def close(self) -> None:
        pass
