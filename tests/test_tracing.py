"""Which hosts report their points: the ones [holds] names (or all, for ``*``), and those in
``cluster.trace``. An untraced host runs its points without a round trip to the orchestrator."""

from __future__ import annotations

from hosts.injection import Injector
from testbed.config import load

HOSTS = "cluster.hosts=host1,host2,host3"


def test_holds_trace_only_the_hosts_they_name() -> None:
    c = load(sets=[HOSTS, "holds.host2:audit.start=host3:evacuate.claim"])
    assert [h for h in c.cluster.hosts if c.traced(h)] == ["host2", "host3"]


def test_a_wildcard_hold_traces_every_host() -> None:
    c = load(sets=[HOSTS, "holds.*:audit.start=host2:evacuate.claim"])
    assert all(c.traced(h) for h in c.cluster.hosts)


def test_cluster_trace_and_no_holds() -> None:
    c = load(sets=[HOSTS, "cluster.trace=host1"])
    assert [h for h in c.cluster.hosts if c.traced(h)] == ["host1"]
    assert not any(load(sets=[HOSTS]).traced(h) for h in ("host1", "host2", "host3"))


def test_periodic_work_is_named_per_host() -> None:
    """The board keys its records by task: two hosts' periodic audits must not share one."""
    c = load(sets=[HOSTS])
    one, two = Injector("host1", c), Injector("host2", c)
    assert one.task != two.task and "host1" in one.task and "host2" in two.task
    one.bind("t-1")
    assert one.task == "t-1"
