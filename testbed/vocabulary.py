"""The names the hosts and the orchestrator share: states, statuses, signals, ``until``, trace
events. Spelled once here so that a state written by one side is the state the other reads.

Each set is a small ``StrEnum``: a member *is* its string, so it goes into SQLite and JSON
as itself and compares equal to what comes back. This module holds names only: no behaviour,
no imports from the rest of the project, and nothing here may change a stored value's spelling
(rows written by a run are read back with these very strings).
"""

from __future__ import annotations

import signal
from enum import StrEnum


class MigrationStatus(StrEnum):
    """``migrations.status``, as Nova spells them."""

    ACCEPTED = "accepted"  # the API made it; no host has touched it yet
    PRE_MIGRATING = "pre-migrating"  # the destination has made its move claim
    PREPARING = "preparing"  # live migration: the destination has made its claim
    POST_MIGRATING = "post-migrating"  # resize: the source has handed the server over
    FINISHED = "finished"  # resize: the server runs on the destination, awaiting confirm
    DONE = "done"  # the destination finished; the source has not cleaned up yet
    COMPLETED = "completed"  # the source freed what it held (after it came back)
    FAILED = "failed"
    ERROR = "error"
    CONFIRMED = "confirmed"
    REVERTED = "reverted"
    CANCELLED = "cancelled"


# Nova's MigrationList.get_in_progress_and_error leaves out migrations in these statuses: the
# audit keeps the claims of every other migration touching its host.
MIGRATION_FINISHED: tuple[MigrationStatus, ...] = (
    MigrationStatus.CONFIRMED,
    MigrationStatus.REVERTED,
    MigrationStatus.ERROR,
    MigrationStatus.FAILED,
    MigrationStatus.COMPLETED,
    MigrationStatus.CANCELLED,
    MigrationStatus.DONE,
)


class VmState(StrEnum):
    """``instances.vm_state``."""

    BUILDING = "building"
    ACTIVE = "active"
    ERROR = "error"
    DELETED = "deleted"
    RESIZED = "resized"  # resized or cold-migrated, awaiting confirm or revert
    SHELVED_OFFLOADED = "shelved_offloaded"


class TaskState(StrEnum):
    """``instances.task_state`` (Nova's; ``None`` when no task runs on the server)."""

    SPAWNING = "spawning"
    REBUILDING = "rebuilding"  # a rebuild, or an evacuation (a rebuild elsewhere)
    RESIZE_MIGRATING = "resize_migrating"
    RESIZE_CONFIRMING = "resize_confirming"
    RESIZE_REVERTING = "resize_reverting"
    MIGRATING = "migrating"  # live migration
    SHELVING_OFFLOADING = "shelving_offloading"
    UNSHELVING = "unshelving"


class MigrationType(StrEnum):
    """``migrations.type``."""

    EVACUATION = "evacuation"
    RESIZE = "resize"  # a cold migration: resize without a new flavor
    LIVE_MIGRATION = "live-migration"


class TaskStatus(StrEnum):
    """``tasks.state``: a command the orchestrator sent a host, until the host reports it."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class DeviceStatus(StrEnum):
    """``pci_devices.status``."""

    AVAILABLE = "available"
    CLAIMED = "claimed"  # reserved for an instance, not yet in use by it
    ALLOCATED = "allocated"  # in use by the instance


BOUND: tuple[DeviceStatus, ...] = (DeviceStatus.CLAIMED, DeviceStatus.ALLOCATED)


class HostState(StrEnum):
    """A host's service as the orchestrator sees it (heartbeats, forced down, exited)."""

    UP = "up"
    DOWN = "down"


class Until(StrEnum):
    """When ``evacuate`` returns: the migration exists, the destination has claimed, or the
    evacuation is done."""

    ACCEPTED = "accepted"
    CLAIMED = "claimed"
    DONE = "done"


UNTIL: tuple[Until, ...] = tuple(Until)


class Event(StrEnum):
    """What a traced host reports (the ``event`` of a ``trace`` message)."""

    POINT = "point"  # reached an injection point
    LOCK_REQUEST = "lock.request"  # asks for the resource lock (may be held back)
    LOCK_WAIT = "lock.wait"  # the lock is taken: it blocks
    LOCK_ACQUIRED = "lock.acquired"
    LOCK_RELEASED = "lock.released"
    KILL = "kill"  # an injected fault is about to end the process
    REQUEST = "request"  # a conductor request is about to be sent (may be held back)
    TIMER = "timer"  # a periodic thread is idle: its timer may fire (the explorer fires it)
    GAVE_UP = "gave_up"  # its wait for a held report ran out (timeouts.hold): it goes on


# Reports a host sends without waiting for an answer (the conductor sends none): never held,
# they only tell the board what the lock did. A task's next report leaves on the same socket,
# after them, so the board has them before it sees that task wait again.
TOLD: frozenset[Event] = frozenset({Event.LOCK_WAIT, Event.LOCK_ACQUIRED, Event.LOCK_RELEASED})


# Signals a user may send a host (``testbed kill --signal``, the ``kill`` step), by name.
SIGNALS: dict[str, signal.Signals] = {
    "KILL": signal.SIGKILL,
    "TERM": signal.SIGTERM,
    "STOP": signal.SIGSTOP,
    "CONT": signal.SIGCONT,
    "INT": signal.SIGINT,
}
DEFAULT_SIGNAL = "KILL"  # a host dies the way a machine does


class Fault(StrEnum):
    """What a fault does at an injection point (``[faults]``, the ``fault`` step)."""

    KILL = "kill"  # SIGKILL the host process, before the step's effect


FAULTS: tuple[Fault, ...] = tuple(Fault)
