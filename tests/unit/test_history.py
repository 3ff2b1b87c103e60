"""The history's records, written without a cluster."""

from __future__ import annotations

from testbed import events


def test_a_record_too_long_for_one_write_keeps_its_place() -> None:
    line = events.encode({"t": 1, "kind": "request", "host": "h", "pid": 2, "read": "x" * 9000})
    assert len(line) <= events.MAX_LINE and events.decode(line)["truncated"] > 9000
    assert events.decode(b"[1]") is None and events.decode(b'{"kind":"nope","t":1}') is None
