"""The compute host process: sockets, threads and the command loop around its system under
test (``cluster.system``, made through ``testbed.system``).

Forked by the orchestrator's supervisor, or started by the user to join a running cluster
(``testbed host NAME --join``). Creates its own ZeroMQ context. Runs commands in
worker threads so that an audit and an evacuation race inside one host, as in Nova. Exits by
itself when its orchestrator is gone (parent pid changed, or heartbeats unanswered for
``timeouts.orphan_after``).
"""

from __future__ import annotations

import faulthandler
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import zmq

from hosts.conductor_api import ConductorAPI
from hosts.emitter import Emitter
from hosts.injection import HoldTimeout, Injector
from testbed import secure, system, wire
from testbed.launch import HostSpec, stacks_path
from testbed.logs import HostLogHandler, install_in_host
from testbed.operations import Operations
from testbed.transport import RemoteError, RpcTimeout, serve_one

log = logging.getLogger("testbed.host")

# What the orchestrator may ask of any host, whatever its system; the system's own commands
# (``HostSystem.commands``) come after these. A task command carries a task id and runs in a
# worker thread (so an audit and an evacuation race inside one host, as in Nova); its end is
# reported to the conductor with ``task.done``.
COMMANDS = Operations("host")
task_command = partial(COMMANDS.declare, extra={"task": str})

EXPECTED_FAILURES = (RemoteError, RpcTimeout, LookupError, HoldTimeout)


class HostProcess:
    def __init__(self, spec: HostSpec) -> None:
        self.spec, self.name = spec, spec.name
        self.stop = threading.Event()
        self.terminating = False  # set by the SIGTERM handler, which must take no lock
        self.orphaned = False  # the orchestrator is gone: nobody else will clean up after it
        self.ctx = zmq.Context()
        self.inject = Injector(spec.name, spec.config, spec.incarnation)
        self.conductor = ConductorAPI(
            self.ctx, spec.conductor, spec.config.timeouts.rpc, spec.name, self.inject, spec.curve
        )
        self.inject.report, self.inject.tell = self.conductor.trace, self.conductor.tell
        self.inject.history = Emitter(spec.history_fd, spec.name)
        make = system.host_factory(spec.config.cluster.system)
        self.system = make(spec.name, spec.config, self.conductor, self.inject)
        self.expected = EXPECTED_FAILURES + tuple(self.system.expected_failures)
        self.commands = self.ctx.socket(zmq.DEALER)
        self.commands.setsockopt(zmq.LINGER, 0)
        self.commands.setsockopt(zmq.IDENTITY, spec.name.encode())
        secure.client(self.commands, spec.curve)
        self.commands.connect(spec.commands)

    def run(self) -> None:
        self.system.start()
        self.inject.armed = True
        self.conductor.call("service.register", host=self.name, pid=os.getpid())
        log.info("host %s up (%s)", self.name, self.system.report())
        for target in (self._heartbeat, self._periodic_audit):
            threading.Thread(target=target, name=target.__name__, daemon=True).start()
        # A signal writes a byte to this pipe (set_wakeup_fd), so SIGTERM ends the poll at
        # once; the poll timeout only bounds how long a missed wake-up could go unnoticed.
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        poller = zmq.Poller()
        poller.register(self.commands, zmq.POLLIN)
        poller.register(wake_r, zmq.POLLIN)
        while not self.stop.is_set():
            if self.terminating:
                self.stop.set()  # here, not in the handler: Event.set takes a lock
                break
            ready = dict(poller.poll(200))
            if wake_r in ready:
                os.read(wake_r, 512)
            if self.commands in ready:
                serve_one(self.commands, self.handle)
        log.info("host %s stopping", self.name)
        if self.orphaned and not self.spec.joined and self.spec.conductor.startswith("ipc://"):
            # The run's private socket directory; its owner died before removing it.
            shutil.rmtree(os.path.dirname(self.spec.conductor[len("ipc://") :]), ignore_errors=True)

    # -- commands: each declared once; a task command runs in a worker thread --------------
    def handle(self, msg: wire.Message, route: tuple[bytes, ...] = ()) -> Any:
        name = msg.op or ""
        mine = name in COMMANDS or name not in self.system.commands
        op = (COMMANDS if mine else self.system.commands).find(name)
        target = self if mine else self.system
        body = op.check(msg.body)
        if "task" not in op.fields:
            return op.handler(target, **body)
        task = body.pop("task")
        self._start_task(op.name, task, lambda: op.handler(target, **body))
        return {"accepted": task}

    @COMMANDS.declare("ping")
    def ping(self) -> dict[str, Any]:
        return {"host": self.name, "pid": os.getpid()} | self.system.report()

    @COMMANDS.declare("pci.view")
    def pci_view(self) -> list[dict]:
        return self.system.resource_view()

    @COMMANDS.declare("inject")
    def arm(self, point: str, action: str) -> None:
        return self.inject.arm(point, action)

    @task_command("audit")
    def audit(self) -> None:
        self.system.audit()

    def _start_task(self, op: str, task: str, fn: Callable[[], Any]) -> None:
        def run() -> None:
            self.inject.bind(task)
            ok, error, crashed = True, None, False
            try:
                fn()
            except self.expected as exc:
                ok, error = False, f"{op} failed: {exc}"
                log.warning(error)
            except Exception as exc:  # logged with its traceback; the host goes on
                ok, error, crashed = False, f"{op} failed: {type(exc).__name__}: {exc}", True
                log.exception("%s failed", op)
            try:
                body = {"task": task, "ok": ok} | ({"error": error} if error else {})
                body |= {"crashed": True} if crashed else {}
                self.conductor.call("task.done", **body)
            except (RpcTimeout, RemoteError) as exc:
                log.warning("could not report task %s: %s", task, exc)
            finally:
                self.conductor.release()

        threading.Thread(target=run, name=f"{op}-{task[:8]}", daemon=True).start()

    # -- background loops -----------------------------------------------------------------
    def _heartbeat(self) -> None:
        t = self.spec.config.timeouts
        last_ok = time.monotonic()
        while not self.stop.wait(t.heartbeat_interval):
            if not self.spec.joined and os.getppid() != self.spec.parent_pid:
                log.error("orchestrator (pid %d) is gone; exiting", self.spec.parent_pid)
                self.orphaned = True
                self.stop.set()
                break
            try:
                # A short deadline: a missed beat costs nothing, and the parent check above
                # comes round again quickly when the orchestrator is gone.
                deadline = min(t.rpc, t.orphan_after, max(4 * t.heartbeat_interval, 0.1))
                self.conductor.service_heartbeat(os.getpid(), deadline)
                last_ok = time.monotonic()
            except (RpcTimeout, RemoteError) as exc:
                if time.monotonic() - last_ok > t.orphan_after:
                    log.error("orchestrator silent for %.1f s (%s); exiting", t.orphan_after, exc)
                    self.orphaned = True
                    self.stop.set()
        self.conductor.release()

    def _periodic_audit(self) -> None:
        """Nova's periodic ``update_available_resource``, guarded: a failed run is logged
        with its traceback and the next run goes on."""
        interval = 0.0 if self.inject.timer_off else self.spec.config.cluster.audit_interval
        # named per host and process: the board keys what it tracks by task
        self.inject.bind(f"periodic-{self.name}-{os.getpid()}")
        # explored: the explorer's fire, not the clock, starts each run (a timer is a choice)
        driven = interval > 0 and self.inject.timer_driven
        while interval > 0 and (
            self.inject.await_fire(self.stop) if driven else not self.stop.wait(interval)
        ):
            try:
                self.system.audit()
            except Exception:
                log.exception("periodic update_available_resource failed; next run goes on")
        self.conductor.release()


def _flush(handler: HostLogHandler, timeout: float = 1.0) -> None:
    """Push queued log records to the orchestrator, bounded (its reader may be gone)."""
    handler.queue.close()
    flusher = threading.Thread(target=handler.queue.join_thread, daemon=True)
    flusher.start()
    flusher.join(timeout)


def main(spec: HostSpec, log_handler: logging.Handler) -> None:
    """Entry point of a host process (``cluster.host_entry``), forked or joined."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the orchestrator's to handle
    install_in_host(log_handler, spec.log_level)
    stacks = open(stacks_path(spec.run_dir, spec.name, os.getpid()), "w")  # noqa: SIM115
    faulthandler.register(signal.SIGUSR1, file=stacks, all_threads=True)
    code = 0
    try:
        host = HostProcess(spec)
        signal.signal(signal.SIGTERM, lambda *_: setattr(host, "terminating", True))
        if spec.joined:  # its terminal's Ctrl-C is its own
            signal.signal(signal.SIGINT, lambda *_: setattr(host, "terminating", True))
        host.run()
    except RpcTimeout as exc:  # nobody answers where the host was told to join
        log.error("host %s: %s", spec.name, exc)
        code = 1
    except Exception:
        log.exception("host %s failed", spec.name)
        code = 1
    finally:
        if isinstance(log_handler, HostLogHandler):  # a joined host logs where it runs
            _flush(log_handler)
        if stacks.tell() == 0:  # nothing was dumped: leave no empty file behind
            os.unlink(stacks.name)
        os._exit(code)  # skip interpreter teardown: worker threads may be mid-delay
