"""The API's move operations: cold migration (resize, no new flavor) with confirm and revert,
live migration, shelve (offload at once) and unshelve. Mixed into ``orchestrator.model.api``.

Like Nova's API and conductor it writes only what they write (a migration, the server's task
state) and sends each host its part, one task after the other, in the order Nova's hosts call
each other (``hosts.model.moves`` says which part is whose). Each call waits, bounded, for every
task it sends, except where ``until`` lets it return early: then the one task it sent goes on alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from testbed.errors import ApiError
from testbed.vocabulary import (
    UNTIL,
    MigrationStatus,
    MigrationType,
    TaskState,
    Until,
    VmState,
)

if TYPE_CHECKING:
    from orchestrator.model.store import ModelStore
    from testbed.config import Config

log = logging.getLogger("testbed.api")


class MovesAPI:
    _moves: set[str]
    _move_threads: set[threading.Thread]
    state: ModelStore
    config: Config
    server: Callable[[str], dict[str, Any]]
    is_up: Callable[[str], bool]
    known: Callable[[str], str]
    wait_for: Callable[..., Any]
    wait_task: Callable[[str], None]
    _task: Callable[..., str]
    _pick: Callable[..., str]

    def _in_background(self, name: str, rest: Callable[[], None]) -> None:
        """The rest of a move, sent task after task by a thread of its own while the caller
        goes on (``wait_idle`` waits for it too). Its waits are bounded like any other; a task
        that fails is the run's to judge, as every task is."""

        def run() -> None:
            try:
                rest()
            except Exception as exc:  # noqa: BLE001 - the run's verdict reads the task itself
                log.warning("the rest of the move of %s: %s", name, exc)
            finally:
                with self.state.changed:
                    self._moves.discard(name)
                    self._move_threads.discard(threading.current_thread())
                    self.state.changed.notify_all()

        thread = threading.Thread(target=run, name=f"move-{name}", daemon=True)
        with self.state.changed:
            self._moves.add(name)
            self._move_threads.add(thread)
        thread.start()

    def _migration(self, name: str, wanted: str) -> dict[str, Any]:
        """The server's migration, whose status must be ``wanted`` (a resize awaiting
        confirm or revert)."""
        inst = self.server(name)
        ctx = inst["migration_context"]
        mig = self.state.migration_get(ctx["migration"]) if ctx else None
        if mig is None or mig["status"] != wanted:
            raise ApiError(f"{name} has no resize awaiting confirm or revert")
        return mig

    def _target(self, inst: dict[str, Any], target: str | None) -> str:
        source = inst["host"]
        if target is not None and self.known(target) == source:
            raise ApiError(f"cannot move {inst['name']} to {target}: it is already there")
        if target is not None and not self.is_up(target):
            raise ApiError(f"cannot move {inst['name']} to {target}: it is down")
        return target or self._pick(inst["pci_count"], exclude=source)

    def resize(self, name: str, target: str | None = None) -> dict[str, Any]:
        """Cold-migrate the server (a resize to the same request) to ``target`` (or the
        scheduler's pick) and wait until it awaits confirm or revert (``resized``)."""
        inst = self.server(name)
        source = inst["host"]
        if inst["vm_state"] != VmState.ACTIVE or not self.is_up(source):
            raise ApiError(f"cannot resize {name}: it must be active on a host that is up")
        target = self._target(inst, target)
        uuid = inst["uuid"]
        mig = self.state.migration_create(uuid, source, target, MigrationType.RESIZE)
        self.state.instance_save(uuid, {"task_state": TaskState.RESIZE_MIGRATING})
        for host, op in ((target, "prep_resize"), (source, "resize_instance")):
            self.wait_task(self._task(host, op, uuid=uuid, migration=mig))
        self.wait_task(self._task(target, "finish_resize", uuid=uuid, migration=mig))
        return {"migration": mig, "source": source, "dest": target}

    def confirm_resize(self, name: str) -> dict[str, Any]:
        """Confirm: the source drops what it kept for the server."""
        mig = self._migration(name, MigrationStatus.FINISHED)
        uuid = mig["instance_uuid"]
        self.state.instance_save(uuid, {"task_state": TaskState.RESIZE_CONFIRMING})
        self.wait_task(self._task(mig["source"], "confirm_resize", uuid=uuid, migration=mig["id"]))
        return {"migration": mig["id"], "source": mig["source"], "dest": mig["dest"]}

    def revert_resize(self, name: str) -> dict[str, Any]:
        """Revert: the destination drops its claim, then the source takes the server back."""
        mig = self._migration(name, MigrationStatus.FINISHED)
        uuid, mid = mig["instance_uuid"], mig["id"]
        self.state.instance_save(uuid, {"task_state": TaskState.RESIZE_REVERTING})
        self.wait_task(self._task(mig["dest"], "revert_resize", uuid=uuid, migration=mid))
        self.wait_task(self._task(mig["source"], "finish_revert_resize", uuid=uuid, migration=mid))
        return {"migration": mid, "source": mig["source"], "dest": mig["dest"]}

    def live_migrate(
        self, name: str, target: str | None = None, until: str = Until.DONE
    ) -> dict[str, Any]:
        """Live-migrate an active server to ``target`` (or the scheduler's pick): the
        destination claims and takes the server, then the source frees what it held.
        ``until``: return once the migration exists and the destination has the command
        (``accepted``), once it has claimed (``claimed``), or when the move is done."""
        if until not in UNTIL:
            raise ApiError(f"live_migrate: 'until' must be one of {', '.join(UNTIL)}")
        inst = self.server(name)
        source, uuid = inst["host"], inst["uuid"]
        if inst["vm_state"] != VmState.ACTIVE or not self.is_up(source):
            raise ApiError(f"cannot live-migrate {name}: it must be active on a host that is up")
        target = self._target(inst, target)
        mig = self.state.migration_create(uuid, source, target, MigrationType.LIVE_MIGRATION)
        self.state.instance_save(uuid, {"task_state": TaskState.MIGRATING})
        dest = self._task(target, "pre_live_migration", uuid=uuid, migration=mig)

        def rest() -> None:
            self.wait_task(dest)
            self.wait_task(self._task(source, "post_live_migration", uuid=uuid, migration=mig))

        if until == Until.CLAIMED:
            self.wait_for(
                f"the claim of {name} on {target}",
                lambda: self.state.migration_get(mig)["status"] != MigrationStatus.ACCEPTED,
            )
        if until == Until.DONE:
            rest()
        else:
            self._in_background(name, rest)
        return {"migration": mig, "source": source, "dest": target}

    def shelve(self, name: str) -> None:
        """Shelve and offload at once (Nova with ``shelved_offload_time = 0``): the server
        leaves its host, which frees its devices."""
        inst = self.server(name)
        if inst["vm_state"] != VmState.ACTIVE or not self.is_up(inst["host"]):
            raise ApiError(f"cannot shelve {name}: it must be active on a host that is up")
        self.state.instance_save(inst["uuid"], {"task_state": TaskState.SHELVING_OFFLOADING})
        self.wait_task(self._task(inst["host"], "shelve_offload", uuid=inst["uuid"]))

    def unshelve(self, name: str, target: str | None = None, until: str = Until.DONE) -> str:
        """Unshelve on ``target`` (or the scheduler's pick). ``until``: return once the host
        has the command (``accepted``), has made its claim (``claimed``), or is done."""
        if until not in UNTIL:
            raise ApiError(f"unshelve: 'until' must be one of {', '.join(UNTIL)}")
        inst = self.server(name)
        if inst["vm_state"] != VmState.SHELVED_OFFLOADED:
            raise ApiError(f"cannot unshelve {name}: it is not shelved")
        target = self.known(target) if target else self._pick(inst["pci_count"])
        self.state.instance_save(inst["uuid"], {"task_state": TaskState.UNSHELVING})
        task = self._task(target, "unshelve", uuid=inst["uuid"])
        if until == Until.CLAIMED:
            self.wait_for(
                f"the claim of {name} on {target}",
                lambda: self.state.instance_get(inst["uuid"])["host"] == target,
            )
        elif until == Until.DONE:
            self.wait_task(task)
        return target
