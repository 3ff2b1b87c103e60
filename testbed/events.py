"""The history's record format: one JSON object a line in a run's ``history.jsonl``.

Hosts and the orchestrator build their records with ``encode`` and the orchestrator reads a
host's with ``decode``, so a malformed line is dropped, never fatal. Every record has:

- ``t``: seconds on the machine's monotonic clock (``CLOCK_MONOTONIC``, one clock for every
  process of the machine). A host stamps its own records when the event happens; the
  orchestrator writes ``t`` relative to the run's start (the ``run.start`` record);
- ``kind`` (one of ``KINDS``), ``host`` (``orchestrator`` for the control plane), ``pid``;
- ``task`` and ``op`` when a task did it (``periodic`` for init_host and periodic audits);
- ``seq``: the sender's own counter, so one process's records keep their order (and a hole
  in it is a lost record). A record the orchestrator writes about a host (a request it
  served, a process it saw start or end) names the host's pid and has ``"via":
  "orchestrator"``: its ``seq`` is the orchestrator's.

A host writes each record with one ``write`` to a pipe (atomic up to ``MAX_LINE`` bytes): once
the call returns the record is the kernel's, so a host killed with SIGKILL loses at most the
record it was writing. This module says what a record is; it keeps no file and no socket.
"""

from __future__ import annotations

import json
import select
from typing import Any

from testbed.names import peer_tag

MAX_LINE = select.PIPE_BUF  # one write() of at most this is atomic on a pipe
ORCHESTRATOR = "orchestrator"
PERIODIC = "periodic"  # the task of whatever a host does outside a command (and the prefix
# of its periodic audit's, ``periodic-HOST-PID``)

KINDS: dict[str, str] = {
    "run.start": "the recorder started: clock, scenario, tracker",
    "run.end": "the recorder stopped",
    "scenario": "the scenario this run is (name, description)",
    "outcome": "how the run ended (ok, error, the failed step)",
    "process.start": "a host process was forked (pid, incarnation)",
    "process.exit": "a host process ended (exit code, or the signal that ended it)",
    "step.start": "a scenario step began",
    "step.end": "a scenario step ended (ok, error)",
    "task.start": "the orchestrator sent a host a command (op, task)",
    "task.done": "a host reported a task finished (ok, error)",
    "point": "a host passed an injection point",
    "lock.request": "a task asked for its host's resource lock",
    "lock.wait": "the lock was taken: the task waits",
    "lock.acquired": "the task holds the lock",
    "lock.released": "the task let the lock go",
    "request": "the conductor served a host's request: what it read, what it changed",
    "write": "the orchestrator itself changed the state (API, scheduler)",
    "held": "the conductor holds a traced host's report back (hold or explorer)",
    "clean_usage": "an audit's clean_usage: the lists it was given and what it freed",
    "fault": "an injected fault fired (the host kills itself)",
    "check": "a check's expectations and what was observed",
    "deadlock": "tasks waiting on each other in a cycle (each: who, where, for what, held by)",
    "invariants": "the invariants checked after the last step",
    "heartbeats": "summary of one host process's heartbeats (count, first, last, max gap)",
    "lost": "records a host could not write (the pipe was full)",
}


def encode(record: dict[str, Any]) -> bytes:
    """One line; a record too long for one atomic write loses its details, not its place."""
    line = json.dumps(record, separators=(",", ":"), default=str).encode() + b"\n"
    if len(line) <= MAX_LINE:
        return line
    keep = {k: record[k] for k in ("t", "kind", "host", "pid", "task", "op", "seq") if k in record}
    return json.dumps(keep | {"truncated": len(line)}, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes | str) -> dict[str, Any] | None:
    """A record, or None when the line is not one (bad JSON, missing or mistyped fields)."""
    try:
        doc = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or doc.get("kind") not in KINDS:
        return None
    t = doc.get("t")
    if not isinstance(t, int | float) or isinstance(t, bool) or t != t:
        return None
    if not isinstance(doc.get("host"), str) or not isinstance(doc.get("pid", 0), int):
        return None
    return doc


def peer_identity(host: str, pid: int, task: str, n: int) -> bytes:
    """A host socket's ZeroMQ identity, ``TAG/PID|TASK|N``: it names who sends its requests
    (the history says who asked; network faults find the link by its ``TAG``, see
    ``testbed.names.peer_tag``), and is unique per socket, as a ROUTER needs."""
    return f"{peer_tag(host)}/{pid}|{task}|{n}".encode()[:255]


def tag_of(identity: bytes) -> str:
    """The host's tag of a routing identity: ``TAG`` of ``peer_identity``, or the bare host
    name a host's command socket uses."""
    return identity.split(b"/", 1)[0].decode("ascii", "replace")


def parse_identity(identity: bytes) -> tuple[str, int, str] | None:
    """(host tag, pid, task) from ``peer_identity``; None for any other identity."""
    parts = identity.decode(errors="replace").split("|")
    tag, _, pid = parts[0].rpartition("/")
    if len(parts) != 3 or not tag or not pid.isdigit():
        return None
    return tag, int(pid), parts[1]
