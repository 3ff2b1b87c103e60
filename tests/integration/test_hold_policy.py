"""Holds from [holds]: points wait for others to pass; bounded; aware of the lock."""

from __future__ import annotations

import pytest

from testbed.errors import ApiError

RACE = (
    "holds.host2:audit.start=host2:evacuate.claim",
    "holds.host2:evacuate.finish=host2:audit.start",
    "holds.host2:evacuate.set_host=host2:audit.instance_list",
    "holds.host2:audit.migration_list=host2:evacuate.migration_done",
)


def race(cluster) -> dict[str, int]:
    cluster.api.create_server("vm1", "host1", 1)
    cluster.kill("host1")
    cluster.api.wait_host("host1", "down")
    cluster.api.evacuate("vm1", "host2", until="accepted")
    cluster.api.audit("host2", wait=False)
    cluster.api.wait_server("vm1", "host2")
    cluster.api.wait_idle()
    return cluster.api.allocations()["host2"]


@pytest.mark.parametrize("tracker,bound", [("buggy", {}), ("fixed", {"vm1": 1})])
def test_holds_decide_the_race(make_cluster, tracker: str, bound: dict) -> None:
    cluster = make_cluster(*RACE, tracker=tracker)
    assert race(cluster) == bound
    log = cluster.runlog.path.read_text()
    released = "cannot wait for host2:evacuate.migration_done: it holds the lock" in log
    assert released is (tracker == "fixed"), log  # only the lock makes it impossible
    statuses = {o["point"]: o["status"] for o in cluster.hold_record().snapshot()}
    lock = "released by the lock" if tracker == "fixed" else "met"
    assert statuses == {
        "host2:audit.start": "met",
        "host2:evacuate.finish": "met",
        "host2:evacuate.set_host": "met",
        "host2:audit.migration_list": lock,
    }


def test_a_hold_never_released_times_out_naming_what_it_waited_for(make_cluster) -> None:
    cluster = make_cluster("holds.host2:audit.start=host2:evacuate.claim", "timeouts.hold=0.3")
    with pytest.raises(ApiError) as err:
        cluster.api.audit("host2")  # no evacuation ever makes its claim
    assert "host2:audit.start held 0.3 s waiting for host2:evacuate.claim to pass" in str(err.value)
    cluster.api.create_server("vm1", "host2", 1)  # the host goes on
    assert cluster.api.allocations()["host2"] == {"vm1": 1}


def test_check_on_a_live_cluster_is_inconclusive_once_a_hold_timed_out(make_cluster) -> None:
    from orchestrator.control.commands import COMMANDS

    cluster = make_cluster("holds.host2:audit.start=host2:evacuate.claim", "timeouts.hold=0.3")
    nothing_yet = COMMANDS.call(cluster, "check", {"expect": []})
    assert nothing_yet["outcome"] == "pass"  # nothing reached yet: no reason
    with pytest.raises(ApiError):
        cluster.api.audit("host2")
    out = COMMANDS.call(cluster, "check", {"expect": []})
    assert (out["outcome"], out["ok"]) == ("inconclusive", False)
    assert out["inconclusive"][0].startswith("audit on host2 (task "), out
    assert "host2:audit.start held 0.3 s waiting for host2:evacuate.claim" in out["inconclusive"][0]
