"""The model's conductor operations: what its hosts may ask of its tables, each declared once
with the body it takes and its *footprint*: what of the state it reads and writes
(``orchestrator.cluster.footprint``). The explorer learns from those footprints which host
steps can affect each other.

The cluster's conductor serves them beside its generic ones (services, task ends, traces),
calling each handler on the run's store. They read and write what they are asked to: nothing
here decides anything about the race."""

from __future__ import annotations

from typing import Any

from orchestrator.cluster.footprint import reads, writes
from orchestrator.model.store import ModelStore
from testbed.operations import Operations

# The model's tables (orchestrator.model.store), as footprints name them.
COMPUTE_NODES = "compute_nodes"
PCI_DEVICES = "pci_devices"
INSTANCES = "instances"
MIGRATIONS = "migrations"

OPS = Operations("conductor", requires=("footprint",))


@OPS.declare("pci.get", footprint=lambda b: [reads(PCI_DEVICES, host=b["host"])])
def pci_get(store: ModelStore, host: str) -> list[dict[str, Any]]:
    return store.pci_get(host)


@OPS.declare(
    "pci.save",
    footprint=lambda b: [
        writes(PCI_DEVICES, "status", "instance_uuid", host=b["host"]),
        writes(COMPUTE_NODES, host=b["host"]),
    ],
)
def pci_save(store: ModelStore, host: str, devices: list) -> None:
    store.pci_save(host, devices)


@OPS.declare("instance.get", footprint=lambda b: [reads(INSTANCES, uuid=b["uuid"])])
def instance_get(store: ModelStore, uuid: str) -> dict[str, Any]:
    return store.instance_get(uuid)


@OPS.declare("instance.list_by_host", footprint=lambda b: [reads(INSTANCES, host=b["host"])])
def instance_list_by_host(store: ModelStore, host: str) -> list[dict[str, Any]]:
    return store.instance_list_by_host(host)


@OPS.declare(
    "instance.save", footprint=lambda b: [writes(INSTANCES, *b["updates"], uuid=b["uuid"])]
)
def instance_save(store: ModelStore, uuid: str, updates: dict) -> None:
    store.instance_save(uuid, updates)


@OPS.declare("migration.get", footprint=lambda b: [reads(MIGRATIONS, id=b["id"])])
def migration_get(store: ModelStore, id: int) -> dict[str, Any]:  # noqa: A002 (the column's name)
    return store.migration_get(id)


# "source or dest is X" is no equality on one column: every row, to be safe
@OPS.declare("migration.query", footprint=lambda b: [reads(MIGRATIONS)])
def migration_query(
    store: ModelStore,
    host: str | None = None,
    source: str | None = None,
    dest: str | None = None,
    statuses: list | None = None,
    in_progress: bool = False,
) -> list[dict[str, Any]]:
    return store.migration_query(host, source, dest, statuses, in_progress)


@OPS.declare("migration.save", footprint=lambda b: [writes(MIGRATIONS, "status", id=b["id"])])
def migration_save(store: ModelStore, id: int, status: str) -> None:  # noqa: A002
    store.migration_save(id, status)
