"""The run's history: every process's events, appended to ``history.jsonl`` as they arrive
(buffered: on disk when the run is quiet for a moment, and at its end).

Records (``testbed.events``) come from four places, each hooked in once:

- the hosts: points, lock use, clean_usage, faults, each written by the host to a pipe of its
  own (``pipe``/``started``); one reader thread here drains every pipe and watches every
  host's exit (the process sentinel), so a death is recorded with its signal;
- the conductor (``conductor`` wraps its serving, ``Conductor.observe``): each request with
  the op, the rows it read and, through ``State.on_write``, what it changed before -> after;
  heartbeats are only counted, and summarised per process at the end;
- the state's writes made by the orchestrator itself (API, scheduler): ``on_write``;
- the runner: scenario steps, checks, invariants (``step``, ``write``).

Times: every record's ``t`` is seconds since this recorder started, on the machine's
monotonic clock; hosts stamp their records with the same clock when the event happens (they
are processes of this machine), the orchestrator's records are stamped when written. File
order is arrival order: readers sort by ``t``. It never blocks a host and never raises into
the run: a bad line from a host is dropped and counted.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import os
import selectors
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from orchestrator.history.exits import exit_code, signal_name
from testbed import events, system, wire
from testbed.config import Config
from testbed.events import ORCHESTRATOR, PERIODIC
from testbed.transport import DEFER

log = logging.getLogger("testbed.history")

FILE = "history.jsonl"
TICK = 0.05  # a deferred history drains its hosts' pipes this often (s)
PIPE_SIZE = 1 << 20  # and asks for pipes this large (bytes), room for many ticks' records
F_SETPIPE_SZ = 1031  # fcntl's command (Linux)
Handle = Callable[[wire.Message, tuple[bytes, ...]], Any]


def for_run(config: Config, run_dir: Path, deferred: bool = False) -> History:
    """The history of a cluster's run in ``run_dir`` (a no-op one when ``cluster.history`` is
    off), handed to the cluster as its recorder by whoever starts it. ``deferred``: written
    only when closed, and not at all once discarded (nobody reads the run before its end,
    and most explored schedules' run directories are removed)."""
    if not config.cluster.history:
        return History(None)
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    c = config.cluster
    history = History(Path(run_dir) / FILE, deferred, hosts=c.hosts, tracker=c.tracker)
    # a system that names its requests itself (its calls, their arguments and rows read)
    history.describe = getattr(system.orchestrator_system(c.system), "describe", None)
    return history


class History:
    """Records one run; ``path`` None records nothing (every method is then a no-op)."""

    GENERIC = ("service.register", "task.done", "trace")  # the cluster's own requests

    def __init__(self, path: Path | None, deferred: bool = False, **header: Any) -> None:
        self.path, self.enabled = path, path is not None
        # deferred: records are kept as they came (the orchestrator's as dicts, the hosts' as
        # lines) and encoded at ``close``, unless the run is discarded first
        self.later: list[dict[str, Any] | tuple[bytes, str, int]] | None = [] if deferred else None
        self.kept = True
        self.t0 = time.monotonic()
        self.current_step = 0
        self.pid = os.getpid()
        self.seq = itertools.count()
        self.lock = threading.Lock()
        self.tasks: dict[str, str] = {}  # task id -> op
        self.names: dict[str, str] = {}  # instance uuid -> server name
        self.beats: dict[tuple[str, int], list[float]] = {}  # -> [count, first, last, max gap]
        self.dropped = 0
        self._serving = threading.local()  # the conductor request being served (its changes)
        self._pending: dict[str, tuple[int, int]] = {}  # host -> pipe made, host not forked yet
        self._adds: list[tuple[int, Any]] = []
        self._ticked: list[tuple[int, Any]] = []  # a deferred history's pipes (see _read)
        self._closing = False
        # the system's naming of a request: (op, body, reply, error) -> the record's fields
        self.describe: Callable[[str, dict, Any, str | None], dict[str, Any]] | None = None
        if not self.enabled:
            return
        # buffered: a write per record would hand the interpreter to another thread each time,
        # mostly from the conductor's, between a host's request and its reply; the reader
        # flushes whenever the run is quiet for a moment, so a reader of a live run lags little
        self.fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close)
        self.write("run.start", clock="CLOCK_MONOTONIC", t0=self.t0, wall=time.time(), **header)
        self.sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        self.sel.register(self._wake_r, selectors.EVENT_READ, ("wake",))
        self.reader = threading.Thread(target=self._read, name="history", daemon=True)
        self.reader.start()

    # -- writing ---------------------------------------------------------------------------
    def now(self) -> float:
        return time.monotonic() - self.t0

    def _append(self, record: dict[str, Any]) -> None:
        if self.later is not None:
            self.later.append(record)  # list.append is atomic: no lock
            return
        line = events.encode(record).decode()
        with self.lock:
            if not self.fh.closed:
                self.fh.write(line)

    def write(
        self,
        kind: str,
        host: str = ORCHESTRATOR,
        pid: int | None = None,
        task: str = "",
        t: float | None = None,
        **fields: Any,
    ) -> None:
        """One record of the orchestrator's (or of what it saw a host do)."""
        if not self.enabled:
            return
        record = {
            "t": round(self.now() if t is None else t, 6),
            "kind": kind,
            "host": host,
            "pid": self.pid if pid is None else pid,
        }
        if record["pid"] != self.pid:
            record["via"] = ORCHESTRATOR  # seen by the orchestrator: its seq, the host's pid
        if task:
            record |= {"task": task, "op": self.tasks.get(task, task)}
        self._append(record | {"seq": next(self.seq)} | fields)

    @contextlib.contextmanager
    def step(self, number: int, do: str, args: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """A scenario step's start and end; the caller may set ``ok`` in the yielded dict."""
        end: dict[str, Any] = {"ok": True}
        self.current_step = number  # the explorer notes in which step a timer fired
        self.write("step.start", step=number, do=do, args=args)
        try:
            yield end
        except BaseException as exc:
            end |= {"ok": False, "error": str(exc) or type(exc).__name__}
            raise
        finally:
            self.write("step.end", step=number, do=do, **end)

    # -- the state's writes ----------------------------------------------------------------
    def on_write(self, table: str, key: str, diff: dict[str, list[Any]]) -> None:
        """``State.on_write``: part of the request being served, or the orchestrator's own."""
        if table == "instances" and "name" in diff:
            self.names[key] = diff["name"][1]
        serving = getattr(self._serving, "request", None)
        who = serving or {"host": ORCHESTRATOR, "pid": self.pid, "task": ""}
        if table == "tasks":  # a task's start (the API) or its end (the host, or a loss)
            if "op" in diff:
                self.tasks[key] = diff["op"][1]
                self.write("task.start", task=key, target=diff["host"][1])
            else:
                state = diff.get("state", [None, None])[1]
                err = (diff.get("error") or [None, None])[1]
                self.write(
                    "task.done",
                    who["host"],
                    who["pid"],
                    key,
                    ok=state == "done",
                    **({"error": err} if err else {}),
                )
            return
        change = {"table": table, "key": key, "diff": diff}
        if table == "instances" and key in self.names:
            change["name"] = self.names[key]
        if table == "pci_devices" and "instance_uuid" in diff:
            change["names"] = [self.names.get(u) for u in diff["instance_uuid"]]
        if serving is not None:
            serving["changes"].append(change)
        else:
            self.write("write", changes=[change])

    # -- the conductor ---------------------------------------------------------------------
    def conductor(self, handle: Handle) -> Handle:
        """The conductor's serving wrapped: each request recorded with who asked, what it read
        and what it changed (heartbeats counted only)."""
        if not self.enabled:
            return handle

        def recorded(msg: wire.Message, route: tuple[bytes, ...] = ()) -> Any:
            t = self.now()
            body = msg.body
            if msg.op == "service.heartbeat":
                result = handle(msg, route)  # a body its declaration refuses raises here
                self._beat(body["host"], body["pid"], t)
                return result
            who = events.parse_identity(route[0]) if route else None
            host, pid, task = who or (str(body.get("host", "?")), 0, "")
            if msg.op == "trace":
                result = handle(msg, route)
                if result is DEFER:
                    self.write("held", host, pid, task, t, at=body.get("point") or body["event"])
                return result
            serving = {"host": host, "pid": pid, "task": task, "changes": []}
            self._serving.request = serving
            fields: dict[str, Any] = {"call": msg.op}
            reply = None
            try:
                reply = handle(msg, route)
            except Exception as exc:
                fields["error"] = f"{type(exc).__name__}: {exc}"
                raise
            else:
                return reply
            finally:
                self._serving.request = None
                if self.describe is not None and msg.op not in self.GENERIC:
                    fields |= self.describe(msg.op, body, reply, fields.get("error"))
                elif msg.op != "task.done":  # recorded by on_write as the task's end
                    args = {k: v for k, v in body.items() if k not in ("devices", "host")}
                    fields |= {"args": args} if args else {}
                for row in fields.get("read", ()):  # a row of an instance's: its server's name
                    if "instance" in row and "name" not in row:
                        row["name"] = self.names.get(row["instance"] or "")
                if msg.op != "task.done":
                    if serving["changes"]:
                        fields["changes"] = serving["changes"]
                    self.write("request", host, pid, task, t, **fields)

        return recorded

    def _beat(self, host: str, pid: int, t: float) -> None:
        b = self.beats.get((host, pid))
        if b is None:
            self.beats[(host, pid)] = [1, t, t, 0.0]
        else:
            b[0], b[2], b[3] = b[0] + 1, t, max(b[3], t - b[2])

    # -- host processes --------------------------------------------------------------------
    def pipe(self, host: str) -> int:
        """The write end a host about to be forked records to (-1: recording is off)."""
        if not self.enabled:
            return -1
        stale = self._pending.pop(host, None)  # a start that failed before the fork
        for fd in stale or ():
            os.close(fd)
        self._pending[host] = os.pipe()
        return self._pending[host][1]

    def started(self, host: str, proc: Any, incarnation: int) -> None:
        """After the fork: close our copy of the write end, read the pipe, watch the exit."""
        if not self.enabled:
            return
        r, w = self._pending.pop(host)
        os.close(w)
        self.write("process.start", host, proc.pid, incarnation=incarnation)
        pipe = (r, ("pipe", host, proc.pid, [b""]))
        if self.later is not None:  # read every tick, not woken by every record (see _read)
            os.set_blocking(r, False)
            with contextlib.suppress(OSError):  # room for many ticks' records
                fcntl.fcntl(r, F_SETPIPE_SZ, PIPE_SIZE)
        with self.lock:
            (self._adds if self.later is None else self._ticked).append(pipe)
            self._adds.append((proc.sentinel, ("exit", host, proc)))
        os.write(self._wake_w, b"x")

    def _read(self) -> None:
        """Drain the hosts' pipes and see their exits. A deferred history (nobody reads it
        before the run ends) drains its pipes every tick instead of waking for each record: a
        wake-up a record took the interpreter from the conductor's thread in the middle of a
        schedule. Exits still wake it at once (their time is recorded)."""
        while True:
            ready = self.sel.select(timeout=0.2 if self.later is None else TICK)
            if not ready and self.later is None:
                with self.lock:
                    if not self.fh.closed:
                        self.fh.flush()
            for pipe in list(self._ticked):
                if not self._drain(pipe[0], *pipe[1][1:]):
                    self._ticked.remove(pipe)
            for key, _ in ready:
                what = key.data[0]
                if what == "wake":
                    os.read(key.fd, 4096)
                    with self.lock:
                        adds, self._adds = self._adds, []
                    for fd, data in adds:
                        self.sel.register(fd, selectors.EVENT_READ, data)
                elif what == "pipe":
                    if not self._drain(key.fd, *key.data[1:]):
                        self.sel.unregister(key.fd)
                else:
                    self.sel.unregister(key.fd)
                    self._exited(key.data[1], key.data[2])
            done = len(self.sel.get_map()) == 1 and not self._adds and not self._ticked
            if self._closing and done:
                return

    def _drain(self, fd: int, host: str, pid: int, buf: list[bytes]) -> bool:
        """Read what the pipe holds; False (and the pipe closed) once every writer is gone."""
        while True:
            try:
                data = os.read(fd, 1 << 16)
            except BlockingIOError:  # a ticked pipe, empty for now
                return True
            if not data:  # every writer is gone: the host has exited
                os.close(fd)
                if buf[0]:  # cannot happen with atomic writes; counted, never written half
                    self.dropped += 1
                return False
            *lines, buf[0] = (buf[0] + data).split(b"\n")
            for line in lines:
                if self.later is not None:  # list.append is atomic: no lock
                    self.later.append((line, host, pid))
                else:
                    self._host_record(line, host, pid)
            if self.later is None:  # a woken read: the next record wakes it again
                return True

    def _host_record(self, line: bytes, host: str, pid: int) -> None:
        record = events.decode(line)
        if record is None:
            self.dropped += 1
            return
        record |= {"t": round(record["t"] - self.t0, 6), "host": host, "pid": pid}
        task = record.get("task") or PERIODIC
        record["op"] = self.tasks.get(task, task)
        if record["kind"] == "clean_usage":
            record["names"] = {u: self.names.get(u, u) for u in record.get("freed", [])}
        self._append(record)

    def _exited(self, host: str, proc: Any) -> None:
        code = exit_code(proc)
        fields: dict[str, Any] = {"code": code}
        if code is not None and code < 0:
            fields["signal"] = signal_name(-code)
        self.write("process.exit", host, proc.pid, **fields)

    # -- the end ---------------------------------------------------------------------------
    def close(self, timeout: float = 2.0) -> None:
        """After every host has stopped: drain their pipes, summarise, close the file."""
        if not self.enabled or self._closing:
            return
        self._closing = True
        os.write(self._wake_w, b"x")
        self.reader.join(timeout)
        for (host, pid), (count, first, last, gap) in sorted(self.beats.items()):
            self.write(
                "heartbeats",
                host,
                pid,
                t=last,
                count=int(count),
                first=round(first, 6),
                max_gap=round(gap, 6),
            )
        for fd, data in self._adds:
            if data[0] == "pipe":
                os.close(fd)
        for fd in [k.fd for k in self.sel.get_map().values() if k.data[0] == "pipe"]:
            os.close(fd)
        for fd, _ in self._ticked:
            os.close(fd)
        for r, w in self._pending.values():
            os.close(r)
            os.close(w)
        self.sel.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        later, self.later = self.later, None
        if later is not None and self.kept:  # written now, in arrival order
            for entry in later:
                if isinstance(entry, tuple):
                    self._host_record(*entry)
                else:
                    self._append(entry)
        if self.kept:
            self.write("run.end", dropped=self.dropped)
        with self.lock:
            self.fh.close()

    def discard(self) -> None:
        """The run directory is about to be removed: a deferred history is not written."""
        self.kept = self.later is None

