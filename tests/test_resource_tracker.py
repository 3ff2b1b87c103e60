"""Unit tests of hosts.model.resource_tracker with a fake conductor and a recording injector.

The fake conductor keeps a little state (instances, migrations) so that the audit's queries
answer as the orchestrator's would, and records every call in a log it shares with the
injector: the log is the order in which the tracker reached its points and called out.
"""

import copy
import threading

import pytest

from hosts.conductor_api import ConductorAPI
from hosts.model.pci import PciDeviceUnavailable, PciDevTracker, make_devices
from hosts.model.resource_tracker import ResourceTracker
from testbed.fixes import ALL, PRESETS
from testbed.points import POINTS
from testbed.vocabulary import MIGRATION_FINISHED, DeviceStatus

JOIN = 5.0  # bound on every join of a thread expected to finish
BUGGY, FIXED = PRESETS["buggy"], PRESETS["fixed"]
# 1896463 alone, and every fix but it: only that fix decides how an evacuation finishes
ONLY_1896463 = frozenset({"1896463"})
ALL_BUT_1896463 = frozenset(ALL) - ONLY_1896463


class FakeConductor:
    """The ConductorAPI calls the tracker makes, answered from in-memory state, recorded."""

    def __init__(self, host, log, instances=(), migrations=()):
        self.host, self.log = host, log
        self.instances = {i["uuid"]: dict(i) for i in instances}
        self.migrations = {m["id"]: dict(m) for m in migrations}
        self.saved_pci = []  # every pci_save's records
        self.instance_saves = []  # (uuid, updates)
        self.migration_saves = []  # (id, status)

    def instance_list_by_host(self):
        self.log.append("conductor.instance_list_by_host")
        return [dict(i) for i in self.instances.values() if i["host"] == self.host]

    def instance_get(self, uuid):
        self.log.append("conductor.instance_get")
        return dict(self.instances[uuid])

    def migration_get_in_progress_and_error(self):
        self.log.append("conductor.migration_get_in_progress_and_error")
        return [
            dict(m)
            for m in self.migrations.values()
            if m["status"] not in MIGRATION_FINISHED and self.host in (m["source"], m["dest"])
        ]

    def instance_save(self, uuid, **updates):
        self.log.append("conductor.instance_save")
        self.instance_saves.append((uuid, updates))
        self.instances.setdefault(uuid, {"uuid": uuid}).update(updates)

    def migration_save(self, migration_id, status):
        self.log.append("conductor.migration_save")
        self.migration_saves.append((migration_id, status))
        self.migrations[migration_id]["status"] = status

    def pci_save(self, devices):
        self.log.append("conductor.pci_save")
        self.saved_pci.append(copy.deepcopy(devices))


class RecordingInjector:
    """Records each point (and whether the tracker's lock was held there); runs hooks."""

    def __init__(self, log):
        self.log = log
        self.locked_at = {}
        self.hooks = {}
        self.rt = None
        self.lock_events = []
        self.lock_waited = threading.Event()  # a thread is about to block on the taken lock
        self.nudge = None  # another event to set then
        self.records = []  # what would go to the run's history

    def lock_event(self, event):
        self.lock_events.append(event)
        if event == "lock.wait":
            self.lock_waited.set()
            if self.nudge is not None:
                self.nudge.set()

    def record(self, kind, **fields):
        self.records.append((kind, fields))

    def __call__(self, point):
        assert point in POINTS, f"undeclared point {point}"
        self.log.append(point)
        if self.rt is not None:
            self.locked_at[point] = self.rt.lock.locked()
        hook = self.hooks.pop(point, None)
        if hook is not None:
            hook()


def make_rt(fixes=FIXED, host="host2", devices=2, instances=(), migrations=()):
    log = []
    conductor = FakeConductor(host, log, instances, migrations)
    inject = RecordingInjector(log)
    pci = PciDevTracker(make_devices(devices, "8086", "154c"))
    rt = ResourceTracker(host, pci, conductor, inject, fixes)
    inject.rt = rt
    return rt, conductor, inject, log


def instance(uuid="vm1", host="host2", pci_count=1):
    return {
        "uuid": uuid,
        "host": host,
        "node": host,
        "pci_count": pci_count,
        "vm_state": "active",
        "task_state": None,
        "migration_context": None,
    }


def migration(mid=7, uuid="vm1", source="host1", dest="host2", status="accepted"):
    return {"id": mid, "instance_uuid": uuid, "source": source, "dest": dest, "status": status}


def run_in_thread(fn, *args, done=None):
    """Start ``fn`` in a daemon thread; returns (thread, errors list). ``done`` (an event) is
    set when ``fn`` returns or raises."""
    started, errors = threading.Event(), []

    def target():
        started.set()
        try:
            fn(*args)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            if done is not None:
                done.set()

    t = threading.Thread(target=target, daemon=True)
    t.start()
    assert started.wait(JOIN)
    return t, errors


def test_fake_conductor_has_the_conductor_api_method_names():
    for name in (
        "instance_get",
        "instance_list_by_host",
        "migration_get_in_progress_and_error",
        "instance_save",
        "migration_save",
        "pci_save",
    ):
        assert callable(getattr(ConductorAPI, name))
        assert callable(getattr(FakeConductor, name))


def test_the_tracker_runs_with_exactly_the_fixes_it_is_given():
    assert make_rt()[0].fixes == frozenset(ALL)
    assert make_rt(BUGGY)[0].fixes == frozenset()
    assert make_rt(["1879878"])[0].fixes == {"1879878"}


# -- the audit ------------------------------------------------------------------------------


def test_audit_calls_points_and_conductor_in_novas_order():
    rt, _, inject, log = make_rt(instances=[instance()])
    rt.update_available_resource()
    assert log == [
        "audit.start",
        "audit.instance_list",
        "conductor.instance_list_by_host",
        "audit.update_usage",
        "audit.migration_list",
        "conductor.migration_get_in_progress_and_error",
        "audit.clean_usage",
        "audit.save",
        "conductor.pci_save",
    ]
    # audit.start fires before the lock is taken; every later step runs under it
    assert inject.locked_at == {
        "audit.start": False,
        "audit.instance_list": True,
        "audit.update_usage": True,
        "audit.migration_list": True,
        "audit.clean_usage": True,
        "audit.save": True,
    }
    assert not rt.lock.locked()


def test_audit_moves_claims_of_listed_instances_to_allocations():
    rt, conductor, _, _ = make_rt(devices=3, instances=[instance("vm1", pci_count=2)])
    rt.pci_tracker.claim_instance("vm1", 2)
    assert rt.update_available_resource() == []
    assert rt.pci_tracker.bound("vm1") == 2
    assert "vm1" not in rt.pci_tracker.claims
    assert [d.status for d in rt.pci_tracker.allocations["vm1"]] == [
        DeviceStatus.ALLOCATED,
        DeviceStatus.ALLOCATED,
    ]
    # the saved state is the audited one
    assert [(r["status"], r["instance_uuid"]) for r in conductor.saved_pci[-1]] == [
        (DeviceStatus.ALLOCATED, "vm1"),
        (DeviceStatus.ALLOCATED, "vm1"),
        ("available", None),
    ]


def test_audit_keeps_claims_of_an_instance_named_only_by_an_in_progress_migration():
    # the move claim is made, the instance's host is still the source: only the migration
    # names it on this host
    rt, conductor, _, _ = make_rt(
        instances=[instance("vm1", host="host1")], migrations=[migration(status="pre-migrating")]
    )
    rt.pci_tracker.claim_instance("vm1", 1)
    assert rt.update_available_resource() == []
    assert rt.pci_tracker.bound("vm1") == 1
    assert [d.status for d in rt.pci_tracker.claims["vm1"]] == [DeviceStatus.CLAIMED]
    assert [r["instance_uuid"] for r in conductor.saved_pci[-1]] == ["vm1", None]


def test_audit_frees_devices_of_an_instance_in_neither_list():
    """The bug's mechanism: the evacuation is done (no in-progress migration) but the audit's
    instance list was taken before the host changed, so nothing names the instance."""
    rt, conductor, inject, _ = make_rt(
        instances=[instance("vm1", host="host1"), instance("vm2")],
        migrations=[migration(status="done")],
    )
    rt.pci_tracker.claim_instance("vm1", 1)
    rt.pci_tracker.claim_instance("vm2", 1)
    assert rt.update_available_resource() == ["vm1"]
    assert rt.pci_tracker.bound("vm1") == 0
    assert rt.pci_tracker.bound("vm2") == 1
    assert [r["instance_uuid"] for r in conductor.saved_pci[-1]] == [None, "vm2"]
    # the history hears what the lists held and which device went free, from which state
    ((kind, rec),) = inject.records
    assert kind == "clean_usage" and rec["instances"] == ["vm2"] and rec["migrations"] == []
    assert rec["freed"] == ["vm1"]
    assert rec["devices"] == [
        {"address": "0000:81:00.0", "instance": "vm1", "before": "claimed", "after": "available"}
    ]


def test_audit_ignores_migrations_of_other_hosts():
    rt, _, _, _ = make_rt(
        instances=[instance("vm1", host="host1")],
        migrations=[migration(source="host1", dest="host3", status="pre-migrating")],
    )
    rt.pci_tracker.claim_instance("vm1", 1)
    assert rt.update_available_resource() == ["vm1"]


def test_audit_failure_releases_the_lock():
    rt, conductor, _, _ = make_rt()

    def broken():
        raise RuntimeError("conductor down")

    conductor.migration_get_in_progress_and_error = broken
    with pytest.raises(RuntimeError, match="conductor down"):
        rt.update_available_resource()
    assert not rt.lock.locked()
    assert conductor.saved_pci == []


# -- claims ---------------------------------------------------------------------------------


def test_instance_claim_allocates_and_saves_under_the_lock():
    rt, conductor, inject, log = make_rt()
    rt.instance_claim(instance("vm1"))
    assert log == ["conductor.pci_save"]  # its point (build.claim) is the manager's
    assert inject.lock_events[:3] == ["lock.request", "lock.acquired", "lock.released"]
    assert [d.status for d in rt.pci_tracker.allocations["vm1"]] == [DeviceStatus.ALLOCATED]
    assert conductor.saved_pci[-1][0]["status"] == DeviceStatus.ALLOCATED


def test_instance_claim_without_devices_raises_and_saves_nothing():
    rt, conductor, _, _ = make_rt(devices=1)
    with pytest.raises(PciDeviceUnavailable):
        rt.instance_claim(instance("vm1", pci_count=2))
    assert conductor.saved_pci == []
    assert not rt.lock.locked()


def test_rebuild_claim_saves_devices_sets_migration_context_and_pre_migrating():
    mig = migration(status="accepted")
    rt, conductor, inject, log = make_rt(
        devices=3, instances=[instance("vm1", host="host1", pci_count=2)], migrations=[mig]
    )
    rt.rebuild_claim(conductor.instances["vm1"], mig)
    assert log == [
        "evacuate.claim",
        "conductor.pci_save",
        "conductor.instance_save",
        "conductor.migration_save",
    ]
    assert inject.locked_at["evacuate.claim"] is False  # before the lock, as build.claim
    assert inject.lock_events[-3:] == ["lock.request", "lock.acquired", "lock.released"]
    # devices: claimed (not allocated) for the instance, and saved so
    claimed = rt.pci_tracker.claims["vm1"]
    assert [d.status for d in claimed] == [DeviceStatus.CLAIMED, DeviceStatus.CLAIMED]
    assert "vm1" not in rt.pci_tracker.allocations
    assert [(r["status"], r["instance_uuid"]) for r in conductor.saved_pci[-1]] == [
        (DeviceStatus.CLAIMED, "vm1"),
        (DeviceStatus.CLAIMED, "vm1"),
        ("available", None),
    ]
    # the migration context names the migration, both hosts and the claimed devices
    assert conductor.instance_saves == [
        (
            "vm1",
            {
                "migration_context": {
                    "migration": 7,
                    "source": "host1",
                    "dest": "host2",
                    "pci": [d.address for d in claimed],
                }
            },
        )
    ]
    assert conductor.instances["vm1"]["host"] == "host1"  # the host is still the source
    assert conductor.migration_saves == [(7, "pre-migrating")]


def test_rebuild_claim_without_devices_raises_before_saving_anything():
    mig = migration()
    rt, conductor, _, _ = make_rt(devices=1, migrations=[mig])
    with pytest.raises(PciDeviceUnavailable):
        rt.rebuild_claim(instance("vm1", host="host1", pci_count=2), mig)
    assert conductor.saved_pci == conductor.instance_saves == conductor.migration_saves == []
    assert not rt.lock.locked()


def test_free_instance_saves_only_when_something_was_freed():
    rt, conductor, _, log = make_rt()
    rt.free_instance("nope")
    assert log == ["delete.free"]
    rt.pci_tracker.claim_instance("vm1", 1)
    rt.free_instance("vm1")
    assert log == ["delete.free", "delete.free", "conductor.pci_save"]
    assert rt.pci_tracker.bound("vm1") == 0
    assert all(r["status"] == "available" for r in conductor.saved_pci[-1])


# -- finishing an evacuation ----------------------------------------------------------------


@pytest.mark.parametrize("fixes", [FIXED, BUGGY], ids=["fixed", "buggy"])
def test_finish_evacuation_sets_host_drops_context_marks_done_in_order(fixes):
    mig = migration(status="pre-migrating")
    rt, conductor, _, log = make_rt(
        fixes, instances=[instance("vm1", host="host1")], migrations=[mig]
    )
    rt.finish_evacuation(conductor.instances["vm1"], mig)
    assert log == [
        "evacuate.set_host",
        "conductor.instance_save",
        "instance.drop_migration_context",
        "conductor.instance_save",
        "evacuate.migration_done",
        "conductor.migration_save",
    ]
    assert conductor.instance_saves == [
        ("vm1", {"host": "host2", "node": "host2"}),
        ("vm1", {"migration_context": None}),
    ]
    assert conductor.migration_saves == [(7, "done")]


@pytest.mark.parametrize(
    "fixes, locked",
    [(FIXED, True), (ONLY_1896463, True), (BUGGY, False), (ALL_BUT_1896463, False)],
    ids=["fixed", "only-1896463", "buggy", "all-but-1896463"],
)
def test_finish_evacuation_runs_under_the_lock_only_with_fix_1896463(fixes, locked):
    mig = migration(status="pre-migrating")
    rt, conductor, inject, _ = make_rt(fixes, migrations=[mig])
    rt.finish_evacuation(instance("vm1", host="host1"), mig)
    assert inject.locked_at == {
        "evacuate.set_host": locked,
        "instance.drop_migration_context": locked,
        "evacuate.migration_done": locked,
    }


def test_fixed_finish_evacuation_blocks_while_the_lock_is_held():
    mig = migration(status="pre-migrating")
    rt, conductor, inject, log = make_rt(FIXED, migrations=[mig])
    assert rt.lock.acquire(timeout=JOIN)
    try:
        t, errors = run_in_thread(rt.finish_evacuation, instance("vm1", host="host1"), mig)
        assert inject.lock_waited.wait(JOIN)  # it found the lock taken and waits for it
        assert t.is_alive()
        assert log == []
        assert conductor.instance_saves == [] and conductor.migration_saves == []
    finally:
        rt.lock.release()
    t.join(JOIN)
    assert not t.is_alive()
    assert errors == []
    assert conductor.migration_saves == [(7, "done")]


def test_buggy_finish_evacuation_does_not_wait_for_the_lock():
    mig = migration(status="pre-migrating")
    rt, conductor, _, _ = make_rt(BUGGY, migrations=[mig])
    assert rt.lock.acquire(timeout=JOIN)
    try:
        t, errors = run_in_thread(rt.finish_evacuation, instance("vm1", host="host1"), mig)
        t.join(JOIN)
        assert not t.is_alive()  # finished while the lock is still held
        assert errors == []
        assert conductor.migration_saves == [(7, "done")]
        assert conductor.instance_saves[0] == ("vm1", {"host": "host2", "node": "host2"})
    finally:
        rt.lock.release()


# -- the race, interleaved deterministically -------------------------------------------------


def _race(fixes):
    """Bug 1896463's interleaving: the move claim is made; the audit loads its instance list
    (vm1's host is still host1); at ``audit.migration_list`` the evacuation tries to finish;
    then the audit loads the migrations and cleans up."""
    mig = migration(status="accepted")
    rt, conductor, inject, log = make_rt(
        fixes, devices=1, instances=[instance("vm1", host="host1")], migrations=[mig]
    )
    rt.rebuild_claim(conductor.instances["vm1"], mig)
    finisher = {}

    def finish_during_the_audit():
        # the buggy tracker finishes at once; the fixed one waits for the lock: either ends this
        settled = inject.nudge = threading.Event()
        t, errors = run_in_thread(
            rt.finish_evacuation, dict(conductor.instances["vm1"]), mig, done=settled
        )
        assert settled.wait(JOIN)
        finisher.update(thread=t, errors=errors, finished_in_audit=not inject.lock_waited.is_set())

    inject.hooks["audit.migration_list"] = finish_during_the_audit
    freed = rt.update_available_resource()
    finisher["thread"].join(JOIN)
    assert not finisher["thread"].is_alive()
    assert finisher["errors"] == []
    assert conductor.instances["vm1"]["host"] == "host2"
    assert conductor.migrations[7]["status"] == "done"
    return rt, conductor, log, freed, finisher


def test_race_buggy_tracker_loses_the_evacuated_instances_device():
    rt, conductor, log, freed, finisher = _race(BUGGY)
    assert finisher["finished_in_audit"] is True
    assert freed == ["vm1"]
    assert rt.pci_tracker.bound("vm1") == 0  # vm1 runs on host2 with no device
    assert conductor.saved_pci[-1][0]["status"] == "available"
    # the evacuation finished between the audit's two queries
    assert log.index("evacuate.migration_done") < log.index(
        "conductor.migration_get_in_progress_and_error"
    )


def test_race_fixed_tracker_keeps_the_evacuated_instances_device():
    rt, conductor, log, freed, finisher = _race(FIXED)
    assert finisher["finished_in_audit"] is False
    assert freed == []
    assert rt.pci_tracker.bound("vm1") == 1
    # the evacuation's last steps waited for the whole audit
    assert log.index("evacuate.set_host") > log.index("conductor.pci_save", log.index("audit.save"))
    # the next audit finds vm1 on this host and allocates its claim
    assert rt.update_available_resource() == []
    assert [d.status for d in rt.pci_tracker.allocations["vm1"]] == [DeviceStatus.ALLOCATED]
    assert conductor.saved_pci[-1][0] == {
        "address": "0000:81:00.0",
        "vendor_id": "8086",
        "product_id": "154c",
        "status": DeviceStatus.ALLOCATED,
        "instance_uuid": "vm1",
    }
