"""The catalogue of injection points, and how a point is addressed (``HOST:POINT``).

Point names follow the steps of Nova's resource tracker and compute manager; the two Nova
names (``instance.drop_migration_context``, ``migration_list.get_in_progress_and_error``) are
where Nova's regression test for bug 1896463 sleeps. A point fires *before* its step.
"""

from __future__ import annotations

from dataclasses import dataclass

from testbed.errors import ConfigError

POINTS: dict[str, str] = {
    # build_and_run_instance
    "build.claim": "build: before the instance claim of its PCI devices (takes the lock)",
    "build.spawn": "build: before the fake driver spawns the instance",
    "build.active": "build: before the instance is marked active",
    # update_available_resource, the periodic audit
    "audit.start": "audit: before the audit takes the resource lock",
    "audit.instance_list": "audit: before loading the instances whose host is this host",
    "audit.update_usage": "audit: before moving the listed instances' claims to allocations",
    "audit.migration_list": "audit: before loading the in-progress migrations of this host",
    "migration_list.get_in_progress_and_error": (
        "audit: inside the migration query (where Nova's test sleeps 2 s)"
    ),
    "audit.clean_usage": "audit: before clean_usage frees claims of unknown instances",
    "audit.save": "audit: before saving device states to the orchestrator",
    # rebuild_instance on the destination (evacuation)
    "evacuate.claim": "evacuate: before the move claim on the destination (takes the lock)",
    "evacuate.spawn": "evacuate: before the fake driver spawns the rebuilt instance",
    "evacuate.finish": "evacuate: before finishing (taking the lock with the fixed tracker)",
    "evacuate.set_host": "evacuate: before setting instance host/node and saving",
    "instance.drop_migration_context": (
        "evacuate: before dropping the migration context (where Nova's test sleeps 1 s)"
    ),
    "evacuate.migration_done": "evacuate: before marking the migration done",
    # other paths
    "rebuild.spawn": "rebuild on the same host: before the fake driver respawns",
    "delete.free": "delete: before freeing the instance's devices (takes the lock)",
    "init_host.cleanup": "init_host: before freeing devices of evacuated and cut-off servers",
}

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
