"""The host model through the API, on real host processes (docs/design.md §2)."""

from __future__ import annotations

import pytest

from testbed.errors import ApiError


def bound(cluster) -> dict[str, dict[str, int]]:
    return cluster.api.allocations()


def test_evacuate_is_refused_while_the_source_is_up(make_cluster) -> None:
    c = make_cluster()
    c.api.create_server("vm1", "host1", 1)
    with pytest.raises(ApiError, match="its host host1 is up"):
        c.api.evacuate("vm1")


def test_evacuation_then_source_restart_frees_the_source(make_cluster) -> None:
    c = make_cluster()
    c.api.create_server("vm1", "host1", 2)
    c.kill("host1")
    c.api.wait_host("host1", "down")
    out = c.api.evacuate("vm1")  # the scheduler picks host2
    assert out["dest"] == "host2"
    c.api.wait_server("vm1", "host2")
    assert bound(c) == {"host1": {"vm1": 2}, "host2": {"vm1": 2}}
    c.start_host("host1")  # init_host: evacuated away -> freed, migration completed
    assert bound(c) == {"host1": {}, "host2": {"vm1": 2}}
    assert c.state.migration_get(out["migration"])["status"] == "completed"


def test_force_down_allows_evacuation_and_rebuild_keeps_devices(make_cluster) -> None:
    c = make_cluster()
    c.api.create_server("vm1", "host1", 1)
    c.api.force_down("host1")
    c.api.evacuate("vm1", "host2")
    c.api.rebuild("vm1")
    c.api.audit("host2")  # the next audit turns the evacuation's claim into an allocation
    assert bound(c)["host2"] == {"vm1": 1}
    assert [d["status"] for d in c.state.devices() if d["host"] == "host2"].count("allocated") == 1


def test_delete_on_a_live_host_frees_at_once(make_cluster) -> None:
    c = make_cluster()
    c.api.create_server("vm1", "host2", 2)
    c.api.delete("vm1")
    assert bound(c)["host2"] == {}


def test_delete_while_host_down_frees_when_it_returns(make_cluster) -> None:
    c = make_cluster()
    c.api.create_server("vm1", "host1", 1)
    c.kill("host1")
    c.api.wait_host("host1", "down")
    c.api.delete("vm1")
    assert bound(c)["host1"] == {"vm1": 1}  # stale until the host returns
    c.start_host("host1")
    assert bound(c)["host1"] == {}


def test_not_enough_devices_is_a_clear_error(make_cluster) -> None:
    c = make_cluster("devices.per_host=1")
    with pytest.raises(ApiError, match="2 PCI device"):
        c.api.create_server("vm1", "host1", 2)
    assert c.api.server("vm1")["vm_state"] == "error"


def test_cut_off_evacuation_fails_and_frees_its_claim_on_restart(make_cluster) -> None:
    c = make_cluster(delays=("host2:evacuate.spawn=30",))
    c.api.create_server("vm1", "host1", 1)
    c.kill("host1")
    c.api.wait_host("host1", "down")
    mig = c.api.evacuate("vm1", "host2", until="claimed")["migration"]
    assert bound(c)["host2"] == {"vm1": 1}
    c.kill("host2")  # the destination dies mid-evacuation
    c.start_host("host2")
    assert c.state.migration_get(mig)["status"] == "failed"
    assert c.api.server("vm1")["vm_state"] == "error"
    assert bound(c)["host2"] == {}


def test_audit_failure_is_reported_and_the_host_goes_on(make_cluster) -> None:
    c = make_cluster()
    c.api.create_server("vm1", "host1", 1)
    with c.state.lock:  # the conductor's thread uses the connection too (heartbeats)
        c.state.db.execute("DROP TABLE migrations")  # the audit's migration query now fails
    with pytest.raises(ApiError, match="audit failed"):
        c.api.audit("host1")
    c.state.db.executescript(
        "CREATE TABLE migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, instance_uuid TEXT,"
        " source TEXT, dest TEXT, type TEXT, status TEXT);"
    )
    c.api.audit("host1")  # the next run goes on
    assert bound(c)["host1"] == {"vm1": 1}
