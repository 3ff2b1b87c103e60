"""The conductor's round: what the explorer releases while a released call is served (a
decision made after a task's last request) is answered in the same round, before the next
poll; the conductor never needs to be woken by its own thread."""

from __future__ import annotations

import threading
from pathlib import Path

import zmq

from orchestrator.cli.options import load
from orchestrator.cluster.conductor import Conductor
from orchestrator.cluster.state import State
from orchestrator.holds.explorer_policy import ExplorerPolicy
from testbed.transport import DEFER


def test_a_release_made_while_a_released_call_is_served_is_answered_in_that_round(
    tmp_path: Path,
) -> None:
    ctx = zmq.Context()
    conductor = Conductor(ctx, State(tmp_path / "state.sqlite"), load(), str(tmp_path))
    gate = ExplorerPolicy(conductor.board, conductor.wake, ["host1"])
    conductor.board.install(["host1"], gate)
    served: list[str] = []
    loop, conductor.thread = conductor.thread, threading.current_thread()  # it plays the loop's
    conductor.observe(lambda serve: lambda msg, route: served.append(msg.id) or serve(msg, route))
    try:
        for task in "ab":  # two tasks, each held at a conductor request it sent with its report
            held = conductor.trace(
                "host1",
                task,
                "request",
                "",
                op="service.heartbeat",
                body={"host": "host1", "pid": 1},
                call=True,
                reply_to=((b"peer-" + task.encode(),), f"m-{task}"),
            )
            assert held is DEFER
        # the explorer lets ``b`` go once ``a``'s call has been served
        conductor.after = lambda op: gate.release("b") if served == ["m-a"] else None
        gate.release("a")
        conductor._send_released()
        assert served == ["m-a", "m-b"]  # both served, in this one round
        assert conductor.board.take_replies() == []
        assert not conductor.wake_rx.poll(0)  # nobody woke the conductor: it was its own round
    finally:
        conductor.thread = loop
        conductor.close()
        conductor.state.close()
        ctx.term()
