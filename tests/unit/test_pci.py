"""Unit tests of hosts.model.pci: the per-host PCI device tracker (Nova's PciDevTracker)."""

import pytest

from hosts.model.pci import (
    PciDevice,
    PciDeviceUnavailable,
    PciDevTracker,
    make_devices,
)
from testbed.vocabulary import DeviceStatus


def tracker(count=4):
    return PciDevTracker(make_devices(count, "8086", "154c"))


def statuses(t):
    return [(d.status, d.instance_uuid) for d in t.pci_devs]


def test_make_devices_gives_distinct_available_addresses():
    devs = make_devices(10, "8086", "154c")
    assert len({d.address for d in devs}) == 10
    assert devs[0].address == "0000:81:00.0"
    assert devs[9].address == "0000:81:01.1"
    assert all(d.status == DeviceStatus.AVAILABLE and d.instance_uuid is None for d in devs)
    assert all((d.vendor_id, d.product_id) == ("8086", "154c") for d in devs)


def test_claim_instance_with_enough_devices_claims_exactly_count():
    t = tracker(4)
    devs = t.claim_instance("vm1", 3)
    assert len(devs) == 3
    assert all(d.status == DeviceStatus.CLAIMED and d.instance_uuid == "vm1" for d in devs)
    assert t.claims == {"vm1": devs}
    assert t.allocations == {}
    assert len(t.free_devs()) == 1
    assert t.bound("vm1") == 3


def test_claim_instance_takes_all_remaining_devices():
    t = tracker(2)
    t.claim_instance("vm1", 1)
    devs = t.claim_instance("vm2", 1)
    assert len(devs) == 1
    assert t.free_devs() == []
    assert {t.claims["vm1"][0].address, t.claims["vm2"][0].address} == {
        d.address for d in t.pci_devs
    }


def test_claim_instance_without_enough_devices_raises_and_changes_nothing():
    t = tracker(2)
    t.claim_instance("vm1", 1)
    before = statuses(t)
    with pytest.raises(PciDeviceUnavailable, match="2 PCI device.*1 free"):
        t.claim_instance("vm2", 2)
    assert statuses(t) == before
    assert "vm2" not in t.claims
    assert t.bound("vm2") == 0


def test_claim_instance_of_zero_devices_records_nothing():
    t = tracker(1)
    assert t.claim_instance("vm1", 0) == []
    assert t.claims == {}
    assert t.bound("vm1") == 0


def test_claim_instance_twice_adds_to_the_claim():
    t = tracker(3)
    t.claim_instance("vm1", 1)
    t.claim_instance("vm1", 1)
    assert t.bound("vm1") == 2
    assert len(t.claims["vm1"]) == 2


def test_allocate_instance_moves_claims_to_allocations():
    t = tracker(3)
    claimed = t.claim_instance("vm1", 2)
    t.claim_instance("vm2", 1)
    allocated = t.allocate_instance("vm1")
    assert allocated == claimed
    assert all(d.status == DeviceStatus.ALLOCATED and d.instance_uuid == "vm1" for d in allocated)
    assert "vm1" not in t.claims
    assert t.allocations == {"vm1": claimed}
    assert t.bound("vm1") == 2
    # the other instance's claim is untouched
    assert [d.status for d in t.claims["vm2"]] == [DeviceStatus.CLAIMED]


def test_allocate_instance_without_claims_is_a_no_op():
    t = tracker(2)
    assert t.allocate_instance("vm1") == []
    assert t.allocations == {}
    assert all(d.status == DeviceStatus.AVAILABLE for d in t.pci_devs)


def test_update_pci_for_instance_allocates_its_claims():
    t = tracker(2)
    t.claim_instance("vm1", 1)
    t.update_pci_for_instance("vm1")
    assert [d.status for d in t.allocations["vm1"]] == [DeviceStatus.ALLOCATED]
    assert "vm1" not in t.claims


def test_free_instance_frees_claims_and_allocations():
    t = tracker(4)
    t.claim_instance("vm1", 1)
    t.allocate_instance("vm1")
    t.claim_instance("vm1", 1)  # e.g. a second claim not yet allocated
    t.claim_instance("vm2", 1)
    freed = t.free_instance("vm1")
    assert len(freed) == 2
    assert all(d.status == DeviceStatus.AVAILABLE and d.instance_uuid is None for d in freed)
    assert "vm1" not in t.claims and "vm1" not in t.allocations
    assert t.bound("vm1") == 0
    assert t.bound("vm2") == 1
    assert len(t.free_devs()) == 3


def test_free_instance_of_unknown_instance_frees_nothing():
    t = tracker(2)
    t.claim_instance("vm1", 1)
    assert t.free_instance("nope") == []
    assert t.bound("vm1") == 1


def _four_instances():
    """kept_inst (allocated, in the instance list), kept_mig (claimed, only a migration),
    lost_claim (claimed, in neither list), lost_alloc (allocated, in neither list)."""
    t = tracker(6)
    t.claim_instance("kept_inst", 1)
    t.allocate_instance("kept_inst")
    t.claim_instance("kept_mig", 1)
    t.claim_instance("lost_claim", 1)
    t.claim_instance("lost_alloc", 2)
    t.allocate_instance("lost_alloc")
    return t


def test_clean_usage_frees_exactly_the_instances_in_neither_list():
    t = _four_instances()
    freed = t.clean_usage(["kept_inst"], ["kept_mig"])
    assert freed == ["lost_alloc", "lost_claim"]
    assert t.bound("lost_claim") == 0
    assert t.bound("lost_alloc") == 0
    assert t.bound("kept_inst") == 1
    assert t.bound("kept_mig") == 1
    # kept ones keep their state: an allocation stays allocated, a claim stays claimed
    assert [d.status for d in t.allocations["kept_inst"]] == [DeviceStatus.ALLOCATED]
    assert [d.status for d in t.claims["kept_mig"]] == [DeviceStatus.CLAIMED]
    assert set(t.claims) == {"kept_mig"}
    assert set(t.allocations) == {"kept_inst"}
    assert len(t.free_devs()) == 4
    assert {d.instance_uuid for d in t.pci_devs} == {None, "kept_inst", "kept_mig"}


def test_clean_usage_keeps_an_instance_named_in_either_list():
    t = _four_instances()
    assert t.clean_usage(["kept_inst", "lost_claim"], ["kept_mig", "lost_alloc"]) == []
    assert {u: t.bound(u) for u in ("kept_inst", "kept_mig", "lost_claim", "lost_alloc")} == {
        "kept_inst": 1,
        "kept_mig": 1,
        "lost_claim": 1,
        "lost_alloc": 2,
    }


def test_clean_usage_with_empty_lists_frees_everything():
    t = _four_instances()
    assert t.clean_usage([], []) == ["kept_inst", "kept_mig", "lost_alloc", "lost_claim"]
    assert t.claims == {} and t.allocations == {}
    assert len(t.free_devs()) == 6


def test_clean_usage_reports_an_instance_with_claim_and_allocation_once():
    t = tracker(3)
    t.claim_instance("vm1", 1)
    t.allocate_instance("vm1")
    t.claim_instance("vm1", 1)
    assert t.clean_usage([], []) == ["vm1"]
    assert t.bound("vm1") == 0


def test_clean_usage_accepts_generators():
    t = _four_instances()
    freed = t.clean_usage((u for u in ["kept_inst"]), iter(["kept_mig"]))
    assert freed == ["lost_alloc", "lost_claim"]


def test_from_records_rebuilds_claims_and_allocations():
    t = _four_instances()
    records = t.to_records()
    again = PciDevTracker.from_records(records)
    assert again.to_records() == records
    assert {u: sorted(d.address for d in ds) for u, ds in again.claims.items()} == {
        u: sorted(d.address for d in ds) for u, ds in t.claims.items()
    }
    assert {u: sorted(d.address for d in ds) for u, ds in again.allocations.items()} == {
        u: sorted(d.address for d in ds) for u, ds in t.allocations.items()
    }
    assert again.bound("lost_alloc") == 2
    assert len(again.free_devs()) == 1


def test_from_records_from_plain_dicts():
    records = [
        {"address": "a", "vendor_id": "v", "product_id": "p"},
        {
            "address": "b",
            "vendor_id": "v",
            "product_id": "p",
            "status": "claimed",
            "instance_uuid": "vm1",
        },
        {
            "address": "c",
            "vendor_id": "v",
            "product_id": "p",
            "status": "allocated",
            "instance_uuid": "vm2",
        },
        {
            "address": "d",
            "vendor_id": "v",
            "product_id": "p",
            "status": "allocated",
            "instance_uuid": "vm2",
        },
    ]
    t = PciDevTracker.from_records(records)
    assert [d.address for d in t.claims["vm1"]] == ["b"]
    assert [d.address for d in t.allocations["vm2"]] == ["c", "d"]
    assert [d.address for d in t.free_devs()] == ["a"]
    # the rebuilt maps hold the tracker's own device objects: freeing frees the devices
    t.free_instance("vm2")
    assert [d.status for d in t.pci_devs] == [
        DeviceStatus.AVAILABLE,
        DeviceStatus.CLAIMED,
        DeviceStatus.AVAILABLE,
        DeviceStatus.AVAILABLE,
    ]


def test_from_records_rejects_unknown_fields():
    with pytest.raises(TypeError):
        PciDevTracker.from_records([{"address": "a", "vendor_id": "v", "product_id": "p", "x": 1}])


def test_to_records_is_plain_data():
    t = tracker(2)
    t.claim_instance("vm1", 1)
    assert t.to_records() == [
        {
            "address": "0000:81:00.0",
            "vendor_id": "8086",
            "product_id": "154c",
            "status": "claimed",
            "instance_uuid": "vm1",
        },
        {
            "address": "0000:81:00.1",
            "vendor_id": "8086",
            "product_id": "154c",
            "status": "available",
            "instance_uuid": None,
        },
    ]


def test_bound_counts_claimed_and_allocated_devices():
    t = tracker(5)
    assert t.bound("vm1") == 0
    t.claim_instance("vm1", 2)
    assert t.bound("vm1") == 2
    t.allocate_instance("vm1")
    assert t.bound("vm1") == 2
    t.claim_instance("vm1", 1)
    assert t.bound("vm1") == 3
    t.free_instance("vm1")
    assert t.bound("vm1") == 0


def test_device_state_transitions():
    d = PciDevice("a", "v", "p")
    d.claim("vm1")
    assert (d.status, d.instance_uuid) == (DeviceStatus.CLAIMED, "vm1")
    d.allocate("vm1")
    assert (d.status, d.instance_uuid) == (DeviceStatus.ALLOCATED, "vm1")
    d.free()
    assert (d.status, d.instance_uuid) == (DeviceStatus.AVAILABLE, None)
