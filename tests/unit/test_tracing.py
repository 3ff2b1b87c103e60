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


def test_lock_events_are_told_and_get_no_answer(tmp_path: Path) -> None:
    """A lock request waits for its answer (the explorer grants the lock); what the lock then
    did is only told: the host goes on at once, the conductor records it on the board and
    sends nothing back."""
    import zmq

    from orchestrator.cluster.conductor import Conductor
    from orchestrator.cluster.state import State
    from testbed.transport import NO_REPLY
    from testbed.vocabulary import TOLD, Event

    inject = Injector("host1", load(sets=[HOSTS, "cluster.trace=host1"]))
    inject.armed = True
    inject.bind("t-1")
    reported, told = [], []
    inject.report = lambda body, timeout: reported.append(body["event"])
    inject.tell = lambda body: told.append(body["event"]) or True
    for event in Event.LOCK_REQUEST, Event.LOCK_ACQUIRED, Event.LOCK_RELEASED:
        inject.lock_event(event)
    assert reported == ["lock.request"] and told == ["lock.acquired", "lock.released"]

    ctx = zmq.Context()
    conductor = Conductor(ctx, State(tmp_path / "state.sqlite"), load(), str(tmp_path))
    try:
        told_order = (Event.LOCK_WAIT, Event.LOCK_ACQUIRED, Event.LOCK_RELEASED)
        assert set(told_order) == TOLD
        for event in told_order:
            body = {"host": "host1", "task": "t-1", "event": event, "point": "audit.start"}
            assert conductor.trace(**body, reply_to=((b"peer",), "m")) is NO_REPLY
            if event == Event.LOCK_ACQUIRED:
                assert conductor.board.lock_holder("host1") == "t-1"
        assert conductor.board.lock_holder("host1") is None  # released last
    finally:
        conductor.close()
        conductor.state.close()
        ctx.term()
