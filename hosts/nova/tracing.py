"""Nova's call sequences, seen: the injection points fired inside them, and the resource lock
reported.

Nothing of Nova is edited. The points fire from wrappers of Nova's object methods and tracker
methods (installed once per host process, after ``objects.register_all``), at the same named
steps as the model's (``testbed.points``); a wrapper fires only on the path its point belongs
to, which the manager marks per thread (``Tracer.path``). The lock: ``@utils.synchronized``
looks ``oslo_concurrency.lockutils.lock`` up at call time, so wrapping that one function sees
every request, wait, acquisition and release of ``compute_resources``. Not seen that way:
``lockutils.internal_lock`` used directly (``ProviderTree.lock``) and plain threading locks.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from nova import objects
from nova.compute import resource_tracker
from nova.pci import manager as pci_manager
from oslo_concurrency import lockutils

from testbed.vocabulary import Event

LOCK = resource_tracker.COMPUTE_RESOURCE_SEMAPHORE  # "compute_resources"


class Tracer:
    """Per host process: the point and lock reports of its threads, through its injector."""

    def __init__(self, inject: Any) -> None:
        self.inject = inject
        self._local = threading.local()
        self._holders: dict[str, int] = {}  # lock name -> threads inside (for "wait")
        self._guard = threading.Lock()

    # -- which path the calling thread is on ---------------------------------------------
    @property
    def path(self) -> str:
        return getattr(self._local, "path", "")

    @contextlib.contextmanager
    def on(self, path: str) -> Iterator[None]:
        """Mark the calling thread as on ``path`` (e.g. ``audit``) while the block runs."""
        before, self._local.path = self.path, path
        try:
            yield
        finally:
            self._local.path = before

    def on_path(self, path: str) -> bool:
        """Is the calling thread on ``path``? (each wrapper fires its point only there)"""
        return self.path == path

    # -- the lock ------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, original: Callable, name: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
        if name != LOCK:
            with original(name, *args, **kwargs) as held:
                yield held
            return
        self.inject.lock_event(Event.LOCK_REQUEST)
        with self._guard:
            busy = self._holders.get(name, 0) > 0
        if busy:  # a fair write lock cannot be tried: the count says whether it waits
            self.inject.lock_event(Event.LOCK_WAIT)
        with original(name, *args, **kwargs) as held:
            with self._guard:
                self._holders[name] = self._holders.get(name, 0) + 1
            self.inject.lock_event(Event.LOCK_ACQUIRED)
            try:
                yield held
            finally:
                with self._guard:
                    self._holders[name] -= 1
                self.inject.lock_event(Event.LOCK_RELEASED)


def _before(cls: type, method: str, fire: Callable[[], None], classmethod_: bool = False) -> None:
    """Make ``cls.method`` call ``fire`` first (the original stays as ``__wrapped__``)."""
    original = cls.__dict__[method]
    func = original.__func__ if classmethod_ else original

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        fire()
        return func(*args, **kwargs)

    wrapper.__wrapped__ = func  # type: ignore[attr-defined]
    wrapper.__name__ = func.__name__
    setattr(cls, method, classmethod(wrapper) if classmethod_ else wrapper)


def install(tracer: Tracer) -> None:
    """Install the wrappers in this process (once: a host process has one tracer)."""
    original_lock = lockutils.lock
    lockutils.lock = lambda name, *a, **kw: tracer.lock(original_lock, name, *a, **kw)

    def list_instances() -> None:
        tracer.on_path("audit") and tracer.inject("audit.instance_list")

    def list_migrations() -> None:
        tracer.on_path("audit") and tracer.inject("audit.migration_list")
        tracer.inject("migration_list.get_in_progress_and_error")

    def instance_save() -> None:  # finish_evacuation's one save: the host and node
        tracer.on_path("finish_evacuation") and tracer.inject("evacuate.set_host")

    def drop_context() -> None:
        tracer.on_path("finish_evacuation") and tracer.inject("instance.drop_migration_context")

    _before(objects.InstanceList, "get_by_host_and_node", list_instances, classmethod_=True)
    _before(objects.MigrationList, "get_in_progress_and_error", list_migrations, classmethod_=True)
    _before(objects.Instance, "save", instance_save)
    _before(objects.Instance, "drop_migration_context", drop_context)
    _before(
        objects.Migration,
        "save",
        lambda: tracer.on_path("finish_evacuation") and tracer.inject("evacuate.migration_done"),
    )
    _before(
        resource_tracker.ResourceTracker,
        "_update_usage_from_instances",
        lambda: tracer.on_path("audit") and tracer.inject("audit.update_usage"),
    )
    _before(
        pci_manager.PciDevTracker,
        "clean_usage",
        lambda: tracer.on_path("audit") and tracer.inject("audit.clean_usage"),
    )
    _record_clean_usage(tracer)
    _before(
        resource_tracker.ResourceTracker,
        "_update",
        lambda: tracer.on_path("audit") and tracer.inject("audit.save"),
    )


def _record_clean_usage(tracer: Tracer) -> None:
    """The history's why, as the model writes it: the lists Nova's ``clean_usage`` was given
    and the devices it freed (read from the tracker's devices before and after the call)."""
    cls = pci_manager.PciDevTracker
    original = cls.clean_usage

    def clean_usage(self: Any, instances: Any, migrations: Any, *args: Any, **kw: Any) -> Any:
        bound = {d.address: (_owner(d), d.status) for d in self.pci_devs if _owner(d)}
        result = original(self, instances, migrations, *args, **kw)
        now = {d.address: _owner(d) for d in self.pci_devs}
        gone = {a: (u, st) for a, (u, st) in bound.items() if now.get(a) != u}
        tracer.inject.record(
            "clean_usage",
            instances=[i.uuid for i in instances],
            migrations=[m.instance_uuid for m in migrations],
            freed=sorted({u for u, _ in gone.values()}),
            devices=[
                {"address": a, "instance": u, "before": st, "after": "available"}
                for a, (u, st) in gone.items()
            ],
        )
        return result

    clean_usage.__wrapped__ = original  # type: ignore[attr-defined]
    cls.clean_usage = clean_usage


def _owner(device: Any) -> str | None:
    """A device's instance, None for a free one (whose field may be unset: no lazy load)."""
    return device.instance_uuid if device.obj_attr_is_set("instance_uuid") else None
