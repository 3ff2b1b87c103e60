"""Which hosts report their points: the ones [holds] names (or all, for ``*``), and those in
``cluster.trace``. An untraced host runs its points without a round trip to the orchestrator."""

from __future__ import annotations

from pathlib import Path

from hosts.injection import Injector
from orchestrator.cli.options import load

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


def test_work_outside_a_task_is_no_task() -> None:
    """Threads that are no task of the API's (init_host, registration, heartbeats) report
    under no task, so nothing waits on them; the periodic audit binds a name of its own per
    host and process, so the board keeps every host's apart."""
    c = load(sets=[HOSTS])
    one = Injector("host1", c)
    assert one.task == ""
    one.bind("t-1")
    assert one.task == "t-1"
    import hosts.process

    source = Path(hosts.process.__file__).read_text()
    assert 'self.inject.bind(f"periodic-{self.name}-{os.getpid()}")' in source
