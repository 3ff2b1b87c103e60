"""orchestrator.run.render: the one spelling of the status table, bound devices and verdicts."""

from __future__ import annotations

from orchestrator.run.render import allocations, bound, listing, status_table, verdict


def test_bound_devices_per_host() -> None:
    assert bound({}) == "nothing bound"
    assert allocations({"host2": {}, "host1": {"vm2": 1, "vm1": 2}}, "  ") == [
        "  host1: vm1=2, vm2=1",
        "  host2: nothing bound",
    ]


def test_verdict_names_the_invariants_only_when_checked() -> None:
    assert verdict("pass") == ["outcome   PASS"]
    assert verdict("fail", False) == ["invariants VIOLATED", "outcome   FAIL"]
    assert verdict("inconclusive") == ["outcome   INCONCLUSIVE"]


def test_status_table() -> None:
    host = {"pid": 7, "state": "down", "forced_down": True, "last_heartbeat": 99.0}
    status = {
        "hosts": {"host1": host | {"free": 1, "bound": 1, "servers": ["vm1"]}},
        "servers": [{"name": "vm1", "vm_state": "active", "host": "host1", "task_state": None}],
    }
    assert status_table(status, now=100.0).splitlines() == [
        "HOST   PID  KIND        STATE          FREE  BOUND  HEARTBEAT  SERVERS",
        "host1  7    supervised  down (forced)  1     1      1.0 s ago  vm1",
        "server vm1: active on host1",
    ]


def test_listing_aligns_the_names() -> None:
    assert listing({"a": "first", "bcd": "second"}) == ["a    first", "bcd  second"]
