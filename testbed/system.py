"""The system under test, plugged in: what a host process and the orchestrator need from it,
and the registry that names each system (``cluster.system``).

A system has two halves that never import each other: its host side (under ``hosts/``) and
its orchestrator side (under ``orchestrator/``). Each is named here by a dotted
``module:attribute`` and loaded only when a run asks for that system, so the kernel imports
neither, and a system whose extra is not installed costs nothing until it is chosen. The
generic machinery (the host process's sockets and threads, the supervisor, the conductor's
serving, holds, tasks, services and heartbeats) stays out of every system.

This module must not import ``hosts`` or ``orchestrator`` (it names them in strings only),
nor load a system before one is asked for.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from testbed.errors import ConfigError

if TYPE_CHECKING:  # the configuration imports this module to check the name
    from testbed.config import Config
    from testbed.operations import Operations

F = TypeVar("F", bound=Callable[..., Any])


# -- the host side ---------------------------------------------------------------------------
class HostSystem(Protocol):
    """One host's system under test, inside the host process (``hosts.process``).

    Made by its factory (``HostFactory``) from the host's name, the config, the conductor
    client and the injector. The process keeps the generic commands (``ping``, ``inject``,
    ``audit``, ``pci.view``) and answers each command of ``commands`` with its handler on this
    object, in a worker thread: a task."""

    commands: Operations  # its task commands, handlers taking this object (see ``command``)
    expected_failures: tuple[type[BaseException], ...]  # a task's refusal, not a crash

    def start(self) -> None:
        """Clean up after a crash and audit once (Nova's ``init_host``, ``pre_start_hook``)."""

    def audit(self) -> Any:
        """The resource audit, periodic or asked for (Nova's ``update_available_resource``)."""

    def resource_view(self) -> list[dict[str, Any]]:
        """This host's own view of its devices (``pci.view``): records with ``address``,
        ``status`` and ``instance_uuid``, compared with the orchestrator's by the checks."""

    def report(self) -> dict[str, Any]:
        """What the host says about itself when asked (``ping``): plain data."""


HostFactory = Callable[[str, "Config", Any, Any], HostSystem]  # (host, config, conductor, inject)


def command(name: str) -> Callable[[F], F]:
    """Mark a method of a system's host object (its compute manager) as the task command
    ``name``; the body's fields come from the method's signature (``commands_of``)."""

    def mark(fn: F) -> F:
        fn.__host_command__ = name  # type: ignore[attr-defined]
        return fn

    return mark


def commands_of(cls: type) -> Operations:
    """The table of ``cls``'s task commands: every method marked by ``command``, in the order
    the classes define them (bases first), each taking a ``task`` id the process keeps."""
    from testbed.operations import Operations

    table = Operations("host")
    for klass in reversed(cls.__mro__):
        for fn in vars(klass).values():
            name = getattr(fn, "__host_command__", None)
            if name is not None and name not in table:
                table.declare(name, extra={"task": str})(fn)
    return table


# -- the orchestrator side -------------------------------------------------------------------
class SystemAPI(Protocol):
    """The API's part of each user action (on the system's own tables, sending hosts the
    system's commands) and the checks' reading of allocations. Built on the cluster's generic
    API (waits, hosts, tasks), which it extends."""

    def create_server(self, name: str, host: str | None = None, pci: int | None = None,
                      wait: bool = True) -> dict[str, Any]: ...  # fmt: skip
    def evacuate(self, name: str, target: str | None = None, until: str = ...) -> dict: ...
    def delete(self, name: str) -> None: ...
    def rebuild(self, name: str) -> None: ...
    def server(self, name: str) -> dict[str, Any]: ...
    def wait_server(self, name: str, host: str, vm_state: str = ...) -> None: ...

    def allocations(self) -> dict[str, dict[str, int]]:
        """Devices bound per host, per server name (what ``[[expect]]`` checks read)."""

    def invariant_violations(self) -> list[str]:
        """Every invariant violated now, one line each (empty: they hold)."""

    def status(self) -> dict[str, Any]:
        """``testbed status``: hosts, servers, migrations, as plain data."""


class OrchestratorSystem(Protocol):
    """The orchestrator's half of a system: the state schema it serves, the conductor
    operations the hosts call on it (each with its footprint, for the explorer), and the API
    that does the orchestrator's part of each user action."""

    name: str
    ops: Operations  # conductor operations; handlers take the store; each declares a footprint
    # may one of its clusters be made, started or closed while another one's schedule runs
    # (the explorer's prestart)? A system whose state layer is process-wide says no
    overlap: bool

    def open_store(self, path: Path) -> Any:
        """The run's state: the cluster's generic store (services, tasks) with this system's
        tables beside it (a subclass of ``orchestrator.cluster.state.State``)."""

    def make_api(self, state: Any, commands: Any, config: Config,
                 exited: Callable[[str], bool]) -> SystemAPI: ...  # fmt: skip


# -- the registry ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    host: str  # module:attribute of its HostFactory
    orchestrator: str  # module:attribute of its OrchestratorSystem
    requires: str = ""  # a top-level module it cannot run without
    install: str = ""  # how to get that module
    # what it offers, as data (checked before anything is loaded): the user actions its API
    # does not wire, and the injection points its hosts fire (None: the whole catalogue)
    unwired: tuple[str, ...] = ()
    points: tuple[str, ...] | None = None


SYSTEMS: dict[str, Entry] = {
    "model": Entry("hosts.model.system:ModelHost", "orchestrator.model.system:SYSTEM"),
    "nova": Entry(
        "hosts.nova.system:NovaHost",
        "orchestrator.nova.system:SYSTEM",
        requires="nova",
        install="pip install '.[nova]'",
        unwired=(
            "resize",
            "confirm_resize",
            "revert_resize",
            "live_migrate",
            "shelve",
            "unshelve",
        ),  # fmt: skip
        points=(
            "build.claim",
            "build.spawn",
            "build.active",
            "evacuate.claim",
            "evacuate.spawn",
            "evacuate.finish",
            "evacuate.set_host",
            "instance.drop_migration_context",
            "evacuate.migration_done",
            "audit.start",
            "audit.instance_list",
            "audit.migration_list",
            "migration_list.get_in_progress_and_error",
            "audit.update_usage",
            "audit.clean_usage",
            "audit.save",
            "init_host.cleanup",
            "rebuild.spawn",
            "delete.free",
        ),  # fmt: skip
    ),
}
DEFAULT = "model"


def check(name: str, names: Iterable[str] = ()) -> str:
    """``name`` if it is a registered system, else the one-line ``ConfigError``."""
    if name not in SYSTEMS:
        known = ", ".join(names or SYSTEMS)
        raise ConfigError(f"'cluster.system' must be one of {known}: '{name}'")
    return name


def installed(name: str) -> bool:
    """Is what system ``name`` requires installed? A directory of that name on the path (a
    namespace package: no ``__init__``, e.g. a test folder) is no installation."""
    requires = SYSTEMS[check(name)].requires
    if not requires:
        return True
    spec = importlib.util.find_spec(requires)
    return spec is not None and spec.origin is not None


def check_action(name: str, action: str) -> None:
    """A ``ConfigError`` naming the action and the system when system ``name`` does not wire
    user action ``action``."""
    if action in SYSTEMS[check(name)].unwired:
        raise ConfigError(f"action '{action}' is not wired for system '{name}'")


def fires(name: str, point: str) -> bool:
    """Do system ``name``'s hosts fire injection point ``point``?"""
    points = SYSTEMS[check(name)].points
    return points is None or point in points


def _load(name: str, side: str) -> Any:
    entry = SYSTEMS[check(name)]
    if not installed(name):
        raise ConfigError(
            f"'cluster.system' = '{name}' needs {entry.requires}, which is not installed: "
            f"{entry.install}"
        )
    text = getattr(entry, side)
    module, _, attr = text.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"'cluster.system' = '{name}': cannot load '{text}' ({exc})") from None


def host_factory(name: str) -> HostFactory:
    """The host side of system ``name``, loaded now (in the host process)."""
    return _load(name, "host")


def orchestrator_system(name: str) -> OrchestratorSystem:
    """The orchestrator side of system ``name``, loaded now (when a cluster is made)."""
    return _load(name, "orchestrator")
