"""The check of footprints on a real SQLite store, without a cluster: what a request touched
(tables, columns, rows) against what its operation declares."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import zmq

from orchestrator.cli.options import CHECK_FOOTPRINTS_ENV, load
from orchestrator.cluster.accesses import Watch
from orchestrator.cluster.conductor import Conductor
from orchestrator.cluster.footprint import reads, writes
from orchestrator.model.conductor import OPS
from orchestrator.model.store import ModelStore

DEVICE = {"vendor_id": "8086", "product_id": "154c", "instance_uuid": None}


@pytest.fixture
def store(tmp_path: Path):
    store = ModelStore(tmp_path / "state.sqlite")
    for host in ("host1", "host2"):
        devices = [{"address": f"{host}-{i}", "status": "available"} | DEVICE for i in (0, 1)]
        store.pci_save(host, devices)
    yield store
    store.close()


def watched(store: ModelStore) -> Watch:
    watch = Watch()
    store.watch(watch)
    return watch


def call(watch: Watch, store: ModelStore, op: str, body: dict, footprint=None) -> None:
    declared = footprint or OPS.find(op).meta["footprint"]
    with watch.request(op, lambda: declared(body)):
        OPS.call(store, op, body)


def test_the_model_operations_touch_only_what_they_declare(store) -> None:
    watch = watched(store)
    uuid = store.instance_create("vm1", "host1", 1)
    mid = store.migration_create(uuid, "host1", "host2")
    device = {"address": "host1-0", "status": "allocated", "instance_uuid": uuid}
    call(watch, store, "pci.get", {"host": "host1"})
    call(watch, store, "pci.save", {"host": "host1", "devices": [device | DEVICE | device]})
    call(watch, store, "instance.get", {"uuid": uuid})
    call(watch, store, "instance.list_by_host", {"host": "host1"})
    call(watch, store, "instance.save", {"uuid": uuid, "updates": {"host": "host2"}})
    call(watch, store, "migration.get", {"id": mid})
    call(watch, store, "migration.query", {"host": "host2", "in_progress": True})
    call(watch, store, "migration.save", {"id": mid, "status": "done"})
    assert watch.violations == []
    assert watch.hints() == []
    assert set(watch.used) == {
        "pci.get", "pci.save", "instance.get", "instance.list_by_host", "instance.save",
        "migration.get", "migration.query", "migration.save",
    }  # fmt: skip


def test_a_column_written_but_not_declared_names_the_op_table_column_and_row(store) -> None:
    watch = watched(store)
    uuid = store.instance_create("vm1", "host1", 1)
    narrow = lambda b: [writes("instances", "task_state", uuid=b["uuid"])]  # noqa: E731
    body = {"uuid": uuid, "updates": {"vm_state": "active", "task_state": None}}
    call(watch, store, "instance.save", body, narrow)
    assert watch.violations == [
        f"footprint: instance.save wrote instances.vm_state of uuid={uuid} not declared"
    ]


def test_a_row_read_outside_the_declared_selection_is_named(store) -> None:
    watch = watched(store)
    store.pci_save("host1", [{"address": "host1-1", "status": "allocated"} | DEVICE])
    narrow = lambda b: [reads("pci_devices", host=b["host"], status="available")]  # noqa: E731
    call(watch, store, "pci.get", {"host": "host1"}, narrow)
    assert watch.violations == [
        "footprint: pci.get read pci_devices.* of host=host1,address=host1-1 not declared"
    ]


def test_rows_written_outside_the_selection_and_tables_not_declared(store) -> None:
    watch = watched(store)
    other = lambda b: [writes("pci_devices", "status", "instance_uuid", host="host2")]  # noqa: E731
    device = {"address": "host1-0", "status": "claimed"} | DEVICE
    call(watch, store, "pci.save", {"host": "host1", "devices": [device]}, other)
    assert watch.violations[0] == (
        "footprint: pci.save wrote pci_devices.instance_uuid of host=host1,address=host1-0 "
        "not declared"
    )
    uuid = store.instance_create("vm1", "host1", 1)
    call(watch, store, "instance.get", {"uuid": uuid}, lambda b: [])
    assert watch.violations[-1] == (
        "footprint: instance.get read instances.* of any row not declared"
    )


def test_a_new_row_is_checked_by_its_values(store) -> None:
    watch = watched(store)
    device = {"address": "host1-9", "status": "available"} | DEVICE
    narrow = lambda b: [  # noqa: E731
        writes("pci_devices", "status", "instance_uuid", host=b["host"], address="host1-0"),
        writes("compute_nodes", host=b["host"]),
    ]
    call(watch, store, "pci.save", {"host": "host1", "devices": [device]}, narrow)
    assert watch.violations == [
        "footprint: pci.save wrote pci_devices.* of host=host1,address=host1-9 not declared"
    ]


def test_a_wider_footprint_is_a_hint_not_a_violation(store) -> None:
    watch = watched(store)
    wide = lambda b: [reads("pci_devices"), writes("instances")]  # noqa: E731
    call(watch, store, "pci.get", {"host": "host1"}, wide)
    assert watch.violations == []
    assert watch.hints() == [
        "footprint hint: pci.get declares write instances(*) and never touched it"
    ]


def test_only_the_recording_thread_is_recorded(store) -> None:
    watch = watched(store)
    other = threading.Thread(target=store.instance_create, args=("vm9", "host2", 1))
    with watch.request("pci.get", lambda: [reads("pci_devices", host="host1")]):
        other.start()
        other.join()
        store.pci_get("host1")
    assert watch.violations == []


def test_the_environment_turns_the_check_on_for_every_configuration(monkeypatch) -> None:
    monkeypatch.setenv(CHECK_FOOTPRINTS_ENV, "1")
    assert load().cluster.check_footprints is True
    assert load(sets=["cluster.check_footprints=false"]).cluster.check_footprints is False
    monkeypatch.setenv(CHECK_FOOTPRINTS_ENV, "0")
    assert load().cluster.check_footprints is False


def test_any_store_any_schema_even_blobs(tmp_path) -> None:
    """The check knows no table of its own: a plain connection, a schema of its own."""
    db = sqlite3.connect(tmp_path / "any.sqlite", isolation_level=None)
    db.execute("CREATE TABLE things (k TEXT PRIMARY KEY, owner TEXT, data BLOB)")
    watch = Watch()
    watch.attach(db, threading.RLock())
    with watch.request("thing.put", lambda: [writes("things", owner="a")]):
        db.execute("INSERT INTO things VALUES ('x', 'a', ?)", (b"\x00\xff",))
        db.execute("INSERT INTO things VALUES ('y', 'b', ?)", (b"\x01",))
    assert watch.violations == ["footprint: thing.put wrote things.* of k=y not declared"]
    db.close()


def test_nothing_is_installed_while_the_check_is_off(store, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(CHECK_FOOTPRINTS_ENV)
    ctx = zmq.Context()
    try:
        off = Conductor(ctx, store, load(), str(tmp_path), ops=OPS)
        on = Conductor(ctx, store, load(sets=["cluster.check_footprints=true"]), str(tmp_path))
        assert off.watch is None and off.footprint_violations() == []
        assert isinstance(on.watch, Watch)
        for c in (off, on):
            c.sock.close(linger=0)
            c.wake_rx.close(linger=0)
            c.wake_tx.close(linger=0)
    finally:
        ctx.term()
