"""What a host process is handed, by the supervisor that forks it or by ``testbed host --join``:
the kernel's contract between the orchestrator and a host.

The host entry is named (``cluster.host_entry``) and resolved at run time, so the kernel and
the orchestrator never import the host side. A spec carries plain data only: no socket,
context or thread, which must not cross a fork."""

from __future__ import annotations

import ctypes
import gc
import importlib
import multiprocessing
import os
import signal
import stat
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from testbed.config import Config
from testbed.errors import ConfigError
from testbed.secure import Curve
from testbed.stops import STOPS


@dataclass(frozen=True)
class HostSpec:
    name: str
    config: Config
    conductor: str  # endpoint of the orchestrator's conductor (ROUTER)
    commands: str  # endpoint the orchestrator sends commands from (ROUTER)
    parent_pid: int  # the orchestrator; the host exits when it is gone (0: a joined host)
    log_level: int
    run_dir: str  # where the host may leave files (its stack dump, if it hangs)
    incarnation: int = 1  # 1 for a host's first process, 2 after its first restart, ...
    history_fd: int = -1  # write end of the pipe for history records (testbed.events); -1: off
    curve: Curve | None = None  # the keys of a CURVE client of the orchestrator (tcp)

    @property
    def joined(self) -> bool:
        """Started by the user (``testbed host --join``), not forked by the supervisor."""
        return self.parent_pid == 0


def stacks_path(run_dir: str | Path, host: str, pid: int) -> Path:
    """Where a host dumps its thread stacks on SIGUSR1 (before a forced kill)."""
    return Path(run_dir) / f"{host}-{pid}.stacks"


def resolve_entry(text: str) -> Callable:
    """``module:function`` named by ``cluster.host_entry``."""
    module, sep, name = text.partition(":")
    try:
        entry = getattr(importlib.import_module(module), name) if sep else None
    except (ImportError, AttributeError):
        entry = None
    if not callable(entry):
        raise ConfigError(f"'cluster.host_entry': cannot load '{text}' (expected module:function)")
    return entry


def host_main(entry: Callable, spec: HostSpec, handler: object) -> None:
    """A freshly forked host: it lets go of what it inherited, then becomes the host
    (``cluster.host_entry``), whichever process forked it (a supervisor or the zygote). Its
    parent's stop handlers are not its own: Ctrl-C is the orchestrator's, and a host told to
    stop before it is one just ends; the entry sets its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPS)  # blocked by its parent across the fork
    release_inherited()
    multiprocessing.current_process().name = spec.name  # its log records' host
    gc.enable()  # a host collects its own garbage, whatever its parent did while starting
    entry(spec, handler)


def release_inherited(keep: Collection[int] = ()) -> list[str]:
    """In a freshly forked host, before it opens anything: let go of what it inherited from
    the orchestrator and does not own — the state's SQLite files (and their shared-memory
    map), the run log, every ZeroMQ socket and context fd (sockets, eventfds, epoll). The
    boundary between a host and the state is the process, not a convention.

    Each is replaced with ``/dev/null`` rather than closed: objects copied by fork still name
    those numbers, and a number reused by the host's own sockets must never be closed or
    written through them. Stdio, pipes (the host's log queue, the fork's sentinels) and
    character devices stay, and ``keep``. Returns what was released (as ``/proc/self/fd`` names
    it)."""
    devnull = os.open(os.devnull, os.O_RDWR)
    released = []
    try:
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd <= 2 or fd == devnull or fd in keep:
                continue
            try:
                target, mode = os.readlink(f"/proc/self/fd/{fd}"), os.fstat(fd).st_mode
            except OSError:  # the listing's own descriptor, closed by now
                continue
            if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISDIR(mode):
                continue
            os.dup2(devnull, fd)
            released.append(target)
    finally:
        os.close(devnull)
    _unmap({t for t in released if t.startswith("/")})
    return released


def _unmap(paths: set[str]) -> None:
    """Unmap shared mappings of released files (SQLite maps its ``-shm`` file)."""
    if not paths:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    with open("/proc/self/maps") as fh:
        lines = fh.read().splitlines()
    for line in lines:
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5] in paths:
            low, high = (int(x, 16) for x in fields[0].split("-"))
            libc.munmap(low, high - low)
