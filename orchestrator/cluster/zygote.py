"""The zygote: a small process that forks hosts, so that the orchestrator does not.

A fork shares every page of the forking process with the child, copy-on-write: from then on,
the orchestrator's first write to each page of its working set is a page fault and a copy (and,
with its threads on other cores, a TLB flush on each). Forking two hosts a schedule, the
orchestrator paid that for its whole working set every schedule: about a sixth of its time
while exploring. The zygote is forked from the orchestrator once per exploration, with the
host half of the system under test loaded, and then forks every host of that exploration's
clusters; it touches almost nothing between forks, so its pages stay shared and cheap.

A host forked here is the same process a supervisor's fork makes (``testbed.launch.host_main``):
its spec is built here from the configuration the zygote inherited (the exploration's, for
every cluster it serves) and the launch's fields, its history pipe's write end passed over the
control socket. Its log records go, as any host's, through a multiprocessing-logging queue of
its own, made here; the zygote relays them, tagged with their run, to the orchestrator's
``Relay``.

Messages on the control socket (a Unix socketpair, JSON, descriptors passed alongside): the
orchestrator sends ``launch`` (answered with the pid), ``flush`` (a run's log channels drained,
then an end marker relayed) and ``exit``; the zygote reports every child's exit code. The
zygote exits when the orchestrator closes the socket or dies (the socket reads end of file).
"""

from __future__ import annotations

import gc
import itertools
import json
import logging
import os
import select
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

from orchestrator.cluster import stops
from testbed.config import Config
from testbed.errors import ApiError
from testbed.launch import HostSpec, host_main, release_inherited
from testbed.logs import ROOT, HostLogHandler, Relay
from testbed.secure import Curve

MAX_MESSAGE = 1 << 16
REPLY_TIMEOUT = 10.0  # a launch is a fork and a reply: this is only a bound, never waited out


def _send(sock: socket.socket, doc: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(doc).encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.sendall(data)


class RemoteProc:
    """A host forked by the zygote, as the supervisor sees it (the parts of a
    ``multiprocessing.Process`` it uses): ``sentinel`` reads end of file once the host has
    exited (the host holds the only write end); the exit code is the zygote's report."""

    def __init__(self, pid: int, sentinel: int, zygote: Zygote) -> None:
        self.pid, self.sentinel, self.zygote = pid, sentinel, zygote
        self._ended = False

    def join(self, timeout: float | None = None) -> None:
        if not self._ended:
            self._ended = bool(select.select([self.sentinel], [], [], timeout)[0])

    def is_alive(self) -> bool:
        self.join(0)
        return not self._ended

    @property
    def exitcode(self) -> int | None:
        return self.zygote.exit_code(self.pid) if not self.is_alive() else None

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        if self.sentinel >= 0:
            os.close(self.sentinel)
            self.sentinel = -1


class Zygote:
    """The orchestrator's end: fork the zygote (``start``), launch hosts, close it."""

    def __init__(self, config: Config, entry: Callable, relay: Relay) -> None:
        self.config, self.entry, self.relay = config, entry, relay
        self.pid = 0
        self.ids = itertools.count(1)
        self.lock = threading.Lock()  # one message on the socket at a time
        self.changed = threading.Condition()
        self.replies: dict[int, dict[str, Any]] = {}
        self.codes: dict[int, int] = {}
        self.gone = False

    def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # its own end of the relay (a multiprocessing-logging queue), made before the fork
        out = HostLogHandler("log-zygote", sub_handler=self.relay)
        with stops.forking():  # a stop while forking is taken once the zygote is on record
            pid = os.fork()
            if pid == 0:  # the zygote
                code = 1
                try:
                    ours.close()
                    _Zygote(theirs, self.config, self.entry, out).run()
                    code = 0
                finally:
                    os._exit(code)
            theirs.close()
            self.pid, self.sock, self.out = pid, ours, out
        self.reader = threading.Thread(target=self._read, name="zygote", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(MAX_MESSAGE)
            except OSError:
                data = b""
            with self.changed:
                if not data:  # it exited (or was never there): nothing more will come
                    self.gone = True
                    self.changed.notify_all()
                    return
                doc = json.loads(data)
                if "exit" in doc:
                    self.codes[doc["exit"]] = doc["code"]
                else:
                    self.replies[doc["id"]] = doc
                self.changed.notify_all()

    def _ask(self, doc: dict[str, Any], fds: list[int]) -> dict[str, Any]:
        n = doc["id"] = next(self.ids)
        try:
            with self.lock:
                _send(self.sock, doc, fds)
        except OSError as exc:
            raise ApiError(f"the zygote (pid {self.pid}) is gone: {exc}") from None
        with self.changed:
            self.changed.wait_for(lambda: n in self.replies or self.gone, REPLY_TIMEOUT)
            reply = self.replies.pop(n, None)
        if reply is None:
            raise ApiError(f"the zygote (pid {self.pid}) did not answer: it has exited")
        if "error" in reply:
            raise ApiError(f"the zygote (pid {self.pid}) could not start a host: {reply['error']}")
        return reply

    def launch(self, spec: HostSpec, run: str) -> RemoteProc:
        """Fork a host with ``spec`` (its configuration must be the zygote's); its log records
        are relayed to run ``run``."""
        if spec.config is not self.config:
            raise ValueError("a zygote forks hosts of its own configuration only")
        r, w = os.pipe()  # the sentinel: only the host keeps the write end
        fds = [w] + ([spec.history_fd] if spec.history_fd >= 0 else [])
        doc = {
            "do": "launch",
            "run": run,
            "name": spec.name,
            "conductor": spec.conductor,
            "commands": spec.commands,
            "log_level": spec.log_level,
            "run_dir": spec.run_dir,
            "incarnation": spec.incarnation,
            "curve": spec.curve.to_dict() if spec.curve else None,
        }
        try:
            pid = self._ask(doc, fds)["pid"]
        except BaseException:
            os.close(r)
            raise
        finally:
            os.close(w)
        return RemoteProc(pid, r, self)

    def exit_code(self, pid: int, timeout: float = 1.0) -> int | None:
        """A host's exit code (negative: the signal that ended it), as the zygote reaped it."""
        with self.changed:
            self.changed.wait_for(lambda: pid in self.codes or self.gone, timeout)
            return self.codes.get(pid)

    def flush(self, run: str, timeout: float = 0.5) -> None:
        """Drain the log channels of run ``run``'s hosts (all stopped); wait, bounded, until
        their last record has been relayed."""
        ended = self.relay.expect(run)
        try:
            with self.lock:
                _send(self.sock, {"do": "flush", "run": run})
        except OSError:  # it is gone, and the channels it held with it
            pass
        else:
            ended.wait(timeout)
        self.relay.forget(run)

    def close(self, timeout: float = 2.0) -> None:
        """Tell it to exit (every host it forked is stopped by now), and reap it."""
        try:
            with self.lock:
                _send(self.sock, {"do": "exit"})
        except OSError:
            pass
        self.reader.join(timeout)
        self.sock.close()
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        self.out.close()


class _Tag(logging.Handler):
    """In the zygote: a host's record, tagged with its run, on its way to the orchestrator."""

    def __init__(self, out: HostLogHandler, run: str) -> None:
        super().__init__()
        self.out, self.run = out, run

    def emit(self, record: logging.LogRecord) -> None:
        record.testbed_run = self.run
        self.out.emit(record)


class _Zygote:
    """The zygote's side: a loop on the control socket, in the forked process."""

    def __init__(
        self, sock: socket.socket, config: Config, entry: Callable, out: HostLogHandler
    ) -> None:
        self.sock, self.config, self.entry, self.out = sock, config, entry, out
        self.lock = threading.Lock()
        self.channels: dict[str, list[HostLogHandler]] = {}

    def run(self) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the orchestrator's
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stops.STOPS)  # blocked across its fork
        # it allocates little; what it has is frozen, so that neither it nor a host it forks
        # walks (and so copies) every page of it when collecting (``gc.freeze``)
        gc.disable()
        gc.freeze()
        logger = logging.getLogger(ROOT)
        for handler in list(logger.handlers):  # the orchestrator's run logs, copied by fork
            logger.removeHandler(handler)
        release_inherited(keep={self.sock.fileno()})
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self.sock, MAX_MESSAGE, 4)
            except OSError:
                return
            if not data:  # the orchestrator closed its end, or died
                return
            doc = json.loads(data)
            if doc["do"] == "exit":
                return
            if doc["do"] == "flush":
                threading.Thread(target=self._flush, args=(doc["run"],), daemon=True).start()
                continue
            try:
                reply = {"id": doc["id"], "pid": self._launch(doc, fds)}
            except Exception as exc:  # a launch that failed is answered, never fatal here
                reply = {"id": doc["id"], "error": f"{type(exc).__name__}: {exc}"}
            finally:
                for fd in fds:
                    os.close(fd)
            self._send(reply)

    def _send(self, doc: dict[str, Any]) -> None:
        with self.lock:
            _send(self.sock, doc)

    def _launch(self, doc: dict[str, Any], fds: list[int]) -> int:
        channel = HostLogHandler(f"log-{doc['name']}", sub_handler=_Tag(self.out, doc["run"]))
        self.channels.setdefault(doc["run"], []).append(channel)
        spec = HostSpec(
            doc["name"],
            self.config,
            doc["conductor"],
            doc["commands"],
            os.getpid(),  # its parent: the host exits once the zygote is gone
            doc["log_level"],
            doc["run_dir"],
            doc["incarnation"],
            fds[1] if len(fds) > 1 else -1,
            Curve(**doc["curve"]) if doc["curve"] else None,
        )
        with stops.forking():  # the host is born with its stops blocked (``host_main``)
            pid = os.fork()
            if pid == 0:  # the host: it keeps the sentinel's write end open until it exits
                try:
                    self.sock.close()
                    host_main(self.entry, spec, channel)
                finally:
                    os._exit(1)
        threading.Thread(target=self._reap, args=(pid,), daemon=True).start()
        return pid

    def _reap(self, pid: int) -> None:
        _, status = os.waitpid(pid, 0)
        try:
            self._send({"exit": pid, "code": os.waitstatus_to_exitcode(status)})
        except OSError:  # the orchestrator is gone
            pass

    def _flush(self, run: str) -> None:
        channels = self.channels.pop(run, [])
        for channel in channels:  # every receiver drains at once; then each is joined
            channel.wake()
        for channel in channels:
            channel.close()
        self.out.emit(Relay.end(run))
