"""The next schedule's cluster, started while the current schedule runs.

Every schedule runs on a fresh cluster from the scenario's start state: a new run directory,
state file, conductor and host processes, forked and registered. None of that depends on the
schedule, only on the configuration, so the explorer makes the next one in its maker thread
while the current schedule's steps run, and the next schedule begins with its hosts already
up. Nothing is shared or reused between schedules: each still gets its own processes and
sockets, and the one made for a schedule that never comes is closed and removed. A finished
schedule's cluster is torn down the same way, in the retirer thread while the next one runs:
its hosts stopped, its history closed and drawn (``retire``). The two threads live as long as
the exploration (``Worker``).

The hosts are forked from a warm process, the zygote (``orchestrator.cluster.zygote``): forked
from the orchestrator once, with the host half of the system under test loaded (by name,
through the kernel's registry), it forks every host of the exploration, so each host inherits
that half instead of importing it again, and the orchestrator never forks (each fork of it
made its whole working set fault and copy again).

Two clusters live at once (three while one is torn down), in threads of one process: the
orchestrator's log records all reach every run log's handlers (one logger), so each run log
keeps only its own threads' records while other clusters live (the hosts' records are relayed
to their own run's log).
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable
from contextlib import nullcontext
from functools import partial
from pathlib import Path

from orchestrator.cluster.cluster import Cluster
from orchestrator.cluster.zygote import Zygote
from orchestrator.history import recorder
from testbed import system
from testbed.config import Config
from testbed.launch import resolve_entry
from testbed.logs import Relay

OWNER = "testbed_cluster"  # the attribute that marks a thread working for one cluster
_MAKING = object()  # the owner of a thread making a cluster not made yet
log = logging.getLogger("testbed.explorer")


class EarlyCluster(Cluster):
    """A cluster made and started by the prestart's maker thread (``_Making``); ``start``
    waits for its start to end (and raises what the start raised), so the runner uses it as
    any other cluster."""

    taken = False  # handed to a schedule: its run log keeps every record of the orchestrator
    buffered_log = True  # nobody reads a schedule's log before its cluster is closed
    _started: threading.Event
    _error: BaseException | None = None

    def _start_early(self) -> None:
        try:
            super().start()
        except BaseException as exc:  # raised again in the thread that takes the cluster
            self._error = exc
        finally:
            self._started.set()

    def start(self) -> None:
        self._started.wait()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        self._started.wait()  # a start under way must end before its hosts can be stopped
        super().close()


class Worker:
    """One thread that does jobs in turn, for the whole exploration: a thread started for
    each cluster made or torn down cost the schedules' own thread about a millisecond each.
    While it works for a cluster, it is marked as that cluster's (``OWNER``)."""

    def __init__(self, name: str, owner: object = _MAKING) -> None:
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.owner = owner  # between jobs (``_MAKING``: its records go to no cluster's log)
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        setattr(self.thread, OWNER, owner)
        self.thread.start()

    def _run(self) -> None:
        while (job := self.jobs.get()) is not None:
            owner, work = job
            setattr(self.thread, OWNER, owner)
            try:
                work()
            finally:
                setattr(self.thread, OWNER, self.owner)

    def submit(self, owner: object, work: Callable[[], None]) -> None:
        self.jobs.put((owner, work))

    def close(self) -> None:
        """After every job submitted so far is done."""
        self.jobs.put(None)
        self.thread.join()


class _Making:
    """One cluster being made, then started, by the maker thread: nothing of it is done in
    the thread that runs the schedules. The maker makes one at a time, so a cluster's start
    has ended before the next one is made."""

    def __init__(self, make: Callable[[], EarlyCluster], maker: Worker) -> None:
        self.made = threading.Event()
        self.cluster: EarlyCluster | None = None
        self.error: BaseException | None = None
        maker.submit(_MAKING, partial(self._run, make))

    def _run(self, make: Callable[[], EarlyCluster]) -> None:
        try:
            cluster = make()
        except BaseException as exc:  # raised again in the thread that takes it
            self.error = exc
            self.made.set()
            return
        cluster._started = threading.Event()
        setattr(threading.current_thread(), OWNER, cluster)
        self.cluster = cluster
        self.made.set()
        cluster._start_early()

    def take(self) -> EarlyCluster:
        """The cluster, once made (its start may still be under way)."""
        self.made.wait()
        if self.cluster is None:
            raise self.error or RuntimeError("no cluster made")
        return self.cluster


class _Only(logging.Filter):
    """A run log's filter while two clusters live. A thread working for one cluster (its
    starter, conductor, history reader) is marked with it, and its records go to that cluster's
    log alone; any other thread of the orchestrator (the steps, the explorer) works for the
    schedule that runs, so its records go to the log of the cluster taken for it. A host's
    record (another process) came through its run's own queue and is always kept. The filter
    runs in the thread that logs."""

    def __init__(self, cluster: EarlyCluster) -> None:
        super().__init__()
        self.cluster = cluster

    def filter(self, record: logging.LogRecord) -> bool:
        if record.process != os.getpid():
            return True
        owner = getattr(threading.current_thread(), OWNER, None)
        return owner is self.cluster if owner is not None else self.cluster.taken


def _quietly(teardown: Callable[[], None]) -> None:
    try:
        teardown()
    except Exception:  # nothing to raise it to: the schedule's result is in already
        log.exception("could not tear a schedule's cluster down")


class Prestart:
    """Hands out clusters for the schedules of one exploration, one started ahead."""

    def __init__(
        self, name: str, config: Config, run_base: str | None, eager: bool = False
    ) -> None:
        self.name, self.config, self.run_base, self.eager = name, config, run_base, eager
        system.host_factory(config.cluster.system)  # forked hosts inherit it, loaded
        self.zygote = Zygote(config, resolve_entry(config.cluster.host_entry), Relay())
        self.zygote.start()
        self.early: _Making | None = None
        self.taken = 0
        self.maker, self.retirer = Worker("prestart"), Worker("retire")

    def take(self) -> EarlyCluster:
        """The cluster for the next schedule (made, its start under way or done). From the
        second schedule on, the one after it is made and started now, while this one's
        schedule runs: an exploration of one schedule starts nothing it does not use. With
        ``eager`` from the first schedule on, once its start has ended (``--first``: the
        second schedule starts sooner, a single one pays for a cluster it did not use)."""
        making, self.early = self.early, None
        current = (making or _Making(self._make, self.maker)).take()
        current.taken = True  # from now on the steps' records are its own
        self.taken += 1
        if self.taken >= 2 or self.eager:
            self.early = _Making(self._make, self.maker)
        return current

    def _make(self) -> EarlyCluster:
        if self.run_base:
            Path(self.run_base).mkdir(parents=True, exist_ok=True)
        run_dir = tempfile.mkdtemp(prefix=f"testbed-{self.name}-", dir=self.run_base)
        # nobody reads a schedule's history before its cluster is closed
        history = partial(recorder.for_run, deferred=True)
        cluster = EarlyCluster(self.config, Path(run_dir), recorder=history, zygote=self.zygote)
        for thread in (cluster.conductor.thread, getattr(cluster.history, "reader", None)):
            if thread is not None:
                setattr(thread, OWNER, cluster)
        for handler in cluster.runlog.handlers:
            with handler.lock or nullcontext():
                handler.addFilter(_Only(cluster))
        # the log was attached while the cluster was made, and another cluster's threads may
        # have logged into it since: filtered now, it is emptied (nothing of its own is in it)
        cluster.runlog.clear()
        return cluster

    def retire(self, cluster: EarlyCluster, teardown: Callable[[], None]) -> None:
        """Tear a finished schedule's cluster down (``teardown``: close it, draw and keep or
        remove its run directory) in the retirer's thread while the next schedule runs."""
        cluster.taken = False  # the next schedule's records are not its own
        self.retirer.submit(cluster, partial(_quietly, teardown))

    def close(self) -> None:
        """Close and remove the cluster started for a schedule that never came, beside the
        teardowns under way; wait for them all."""
        self.maker.close()  # the cluster made last is made and started (or failed)
        if self.early is not None:
            making, self.early = self.early, None
            if making.cluster is not None:
                self.retire(making.cluster, partial(_remove, making.cluster))
        self.retirer.close()
        self.zygote.close()


def _remove(cluster: EarlyCluster) -> None:
    cluster.close()
    shutil.rmtree(cluster.run_dir, ignore_errors=True)
