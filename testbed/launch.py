"""What the supervisor hands a host process it forks: the kernel's contract between them."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

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
