"""What the supervisor hands a host process it forks: the kernel's contract between them."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from testbed.config import Config
from testbed.errors import ConfigError


@dataclass(frozen=True)
class HostSpec:
    name: str
    config: Config
    conductor: str  # endpoint of the orchestrator's conductor (ROUTER)
    commands: str  # endpoint the orchestrator sends commands from (ROUTER)
    parent_pid: int  # the orchestrator; the host exits when it is gone
    log_level: int
    run_dir: str  # where the host may leave files (its stack dump, if it hangs)
    incarnation: int = 1  # 1 for a host's first process, 2 after its first restart, ...
    history_fd: int = -1  # write end of the pipe for history records (testbed.events); -1: off


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
