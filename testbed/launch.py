"""What a host process is handed, by the supervisor that forks it or by ``testbed host --join``:
the kernel's contract between the orchestrator and a host."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from testbed.config import Config
from testbed.errors import ConfigError
from testbed.secure import Curve


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
