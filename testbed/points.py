"""The catalogue of injection points, and how a point is addressed (``HOST:POINT``).

A point is a named place on one of a host's code paths where the configuration may trace,
hold, delay or kill; it fires *before* its step. Each entry says which path it is on, which
step it comes before and what that step does. Point names follow the steps of Nova's resource
tracker and compute manager; the two Nova names (``instance.drop_migration_context``,
``migration_list.get_in_progress_and_error``) are where Nova's regression test for bug 1896463
sleeps. ``tests/unit/test_points.py`` checks the catalogue against the ``inject()`` calls in
``hosts/``, both ways.

This module is data and parsing only: it must not import the hosts or the orchestrator, and
must not decide what happens at a point (that is the injector's and the orchestrator's job).
"""

from __future__ import annotations

from dataclasses import dataclass

from testbed.errors import ConfigError


@dataclass(frozen=True)
class Point:
    name: str
    path: str  # the code path it is on: a key of PATHS
    before: str  # the step it fires before, named as in the host's code
    doc: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "path": self.path, "before": self.before, "doc": self.doc}


# The paths, in the order they are shown, with the host operation each one is.
PATHS: dict[str, str] = {
    "build": "build_and_run_instance: claim, spawn, mark active",
    "audit": "update_available_resource: the periodic audit, all under the resource lock",
    "evacuate": "rebuild_instance on the destination: move claim, spawn, finish",
    "rebuild": "rebuild_instance on the same host",
    "delete": "free_instance: free a deleted (or cut-off) instance's devices",
    "init_host": "init_host: clean up after a restart, before the first audit",
    "resize": "prep_resize (destination), resize_instance (source), finish_resize (destination)",
    "confirm": "confirm_resize on the source: migration confirmed, the source's claim dropped",
    "revert": "revert_resize on the destination, finish_revert_resize on the source",
    "live_migration": "pre_live_migration and post_live_migration_at_destination on the "
    "destination, _post_live_migration on the source",
    "shelve": "shelve_offload_instance: the server leaves its host, its devices are freed",
    "unshelve": "unshelve_instance: claim on the chosen host, spawn, mark active",
}

# Points of the move operations, in the order each path reaches them with every fix on; with a
# fix off the order may differ where Nova's fix moved a step under the lock (docs/design.md).
MOVES: tuple[tuple[str, str, str, str], ...] = (
    (
        "resize.claim",
        "resize",
        "resize_claim",
        "before the destination's move claim (takes the lock)",
    ),
    (
        "resize.migrate_disk",
        "resize",
        "migration.save(post-migrating)",
        "before the source hands the server over",
    ),
    (
        "resize.finish",
        "resize",
        "instance.save(host, node, resized)",
        "before the server is set on the destination, awaiting confirm",
    ),
    (
        "confirm.drop_claim",
        "confirm",
        "drop_move_claim_at_source",
        "before the source drops its claim (takes the lock; fix 1879878: the status too)",
    ),
    (
        "confirm.migration_confirmed",
        "confirm",
        "migration.save(confirmed)",
        "before the migration is marked confirmed",
    ),
    (
        "confirm.finish",
        "confirm",
        "instance.save(active)",
        "before the migration context is dropped and the server marked active",
    ),
    (
        "revert.drop_claim",
        "revert",
        "drop_move_claim_at_dest",
        "before the destination drops its claim (takes the lock; fix 1879878: the status too)",
    ),
    (
        "revert.migration_reverted",
        "revert",
        "migration.save(reverted)",
        "before the migration is marked reverted",
    ),
    (
        "revert.finish",
        "revert",
        "instance.save(host, node, active)",
        "before the source takes the server back (finish_revert_resize)",
    ),
    (
        "live_migration.start",
        "live_migration",
        "instance.get",
        "before the destination loads the server and its migration",
    ),
    (
        "live_migration.claim",
        "live_migration",
        "live_migration_claim",
        "before the destination's claim (takes the lock)",
    ),
    (
        "live_migration.pre",
        "live_migration",
        "driver.pre_live_migration",
        "before the fake driver prepares the destination",
    ),
    (
        "live_migration.post_dest",
        "live_migration",
        "instance.save(host, node, active)",
        "before the server is set on the destination (post_live_migration_at_destination)",
    ),
    (
        "live_migration.post_source",
        "live_migration",
        "free_instance",
        "before the source frees the server's devices and completes the migration",
    ),
    (
        "shelve.offload",
        "shelve",
        "instance.save(shelved_offloaded)",
        "before the server is marked shelved-offloaded",
    ),
    (
        "shelve.free",
        "shelve",
        "update_usage",
        "before the host frees the offloaded server's devices (takes the lock)",
    ),
    (
        "shelve.clear_host",
        "shelve",
        "instance.save(host=None)",
        "before the server's host and node are cleared",
    ),
    (
        "unshelve.start",
        "unshelve",
        "instance.save(spawning)",
        "before the server's task state becomes spawning",
    ),
    (
        "unshelve.claim",
        "unshelve",
        "instance_claim",
        "before the claim on the chosen host (takes the lock, sets host)",
    ),
    ("unshelve.spawn", "unshelve", "driver.spawn", "before the fake driver spawns the server"),
    ("unshelve.active", "unshelve", "instance.save(active)", "before the server is marked active"),
)

CATALOGUE: tuple[Point, ...] = (
    Point(
        "build.claim",
        "build",
        "instance_claim",
        "before the instance claim of its PCI devices (takes the lock)",
    ),
    Point("build.spawn", "build", "driver.spawn", "before the fake driver spawns the instance"),
    Point(
        "build.active",
        "build",
        "instance.save(vm_state=active)",
        "before the instance is marked active",
    ),
    Point("audit.start", "audit", "lock", "before the audit takes the resource lock"),
    Point(
        "audit.instance_list",
        "audit",
        "instance_list_by_host",
        "before loading the instances whose host is this host",
    ),
    Point(
        "audit.update_usage",
        "audit",
        "update_pci_for_instance",
        "before moving the listed instances' claims to allocations",
    ),
    Point(
        "audit.migration_list",
        "audit",
        "migration_get_in_progress_and_error",
        "before loading the in-progress migrations of this host",
    ),
    Point(
        "migration_list.get_in_progress_and_error",
        "audit",
        "migration.query",
        "inside the migration query (where Nova's test sleeps 2 s)",
    ),
    Point(
        "audit.clean_usage",
        "audit",
        "clean_usage",
        "before clean_usage frees claims of unknown instances",
    ),
    Point("audit.save", "audit", "pci.save", "before saving device states to the orchestrator"),
    Point(
        "evacuate.claim",
        "evacuate",
        "rebuild_claim",
        "before the move claim on the destination (takes the lock)",
    ),
    Point(
        "evacuate.spawn",
        "evacuate",
        "driver.spawn",
        "before the fake driver spawns the rebuilt instance",
    ),
    Point(
        "evacuate.finish",
        "evacuate",
        "finish_evacuation",
        "before finishing (taking the lock with the fixed tracker)",
    ),
    Point(
        "evacuate.set_host",
        "evacuate",
        "instance.save(host, node)",
        "before setting instance host/node and saving",
    ),
    Point(
        "instance.drop_migration_context",
        "evacuate",
        "instance.save(migration_context=None)",
        "before dropping the migration context (where Nova's test sleeps 1 s)",
    ),
    Point(
        "evacuate.migration_done",
        "evacuate",
        "migration.save(done)",
        "before marking the migration done",
    ),
    Point(
        "rebuild.spawn", "rebuild", "driver.spawn", "before the fake driver respawns the instance"
    ),
    Point(
        "delete.free",
        "delete",
        "free_instance",
        "before freeing the instance's devices (takes the lock)",
    ),
    Point(
        "init_host.cleanup",
        "init_host",
        "_destroy_evacuated_instances",
        "before freeing devices of evacuated and cut-off servers",
    ),
    *(Point(*m) for m in MOVES),
)

POINTS: dict[str, Point] = {p.name: p for p in CATALOGUE}  # by name, in catalogue order


def on_path(path: str) -> list[str]:
    """The names of the points on ``path``, in the order the path reaches them."""
    return [p.name for p in CATALOGUE if p.path == path]


ANY_HOST = "*"


@dataclass(frozen=True)
class Address:
    """``HOST:POINT``; host ``*`` means every host."""

    host: str
    point: str

    def __str__(self) -> str:
        return f"{self.host}:{self.point}"

    def matches(self, host: str, point: str) -> bool:
        return self.point == point and self.host in (ANY_HOST, host)


def parse_address(text: str, hosts: list[str] | None = None) -> Address:
    """Parse and validate ``HOST:POINT``; ``hosts`` (when given) are the known host names."""
    host, sep, point = text.partition(":")
    if not sep or not host or not point:
        raise ConfigError(f"injection point '{text}' is not HOST:POINT (e.g. host2:audit.start)")
    if point not in POINTS:
        raise ConfigError(f"unknown injection point '{point}' in '{text}' (see: testbed points)")
    if hosts is not None and host != ANY_HOST and host not in hosts:
        raise ConfigError(f"unknown host '{host}' in '{text}' (hosts: {', '.join(hosts)})")
    return Address(host, point)
