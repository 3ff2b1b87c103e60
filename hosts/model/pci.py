"""PCI device tracker, after Nova's ``nova/pci/manager.py`` (PciDevTracker).

Simplified: no device pools, specs or NUMA; a request is just "N devices". In memory only: it
must not lock (the resource tracker's lock guards it) nor do any I/O (the tracker saves)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from testbed.vocabulary import DeviceStatus


class PciDeviceUnavailable(Exception):
    pass


@dataclass
class PciDevice:
    address: str
    vendor_id: str
    product_id: str
    status: str = DeviceStatus.AVAILABLE
    instance_uuid: str | None = None

    def claim(self, uuid: str) -> None:
        self.status, self.instance_uuid = DeviceStatus.CLAIMED, uuid

    def allocate(self, uuid: str) -> None:
        self.status, self.instance_uuid = DeviceStatus.ALLOCATED, uuid

    def free(self) -> None:
        self.status, self.instance_uuid = DeviceStatus.AVAILABLE, None


def make_devices(count: int, vendor_id: str, product_id: str) -> list[PciDevice]:
    """``count`` devices with generated addresses (domain:bus:slot.function)."""
    return [PciDevice(f"0000:81:{i // 8:02x}.{i % 8}", vendor_id, product_id) for i in range(count)]


class PciDevTracker:
    def __init__(self, devices: list[PciDevice]) -> None:
        self.pci_devs = devices
        self.claims: dict[str, list[PciDevice]] = {}
        self.allocations: dict[str, list[PciDevice]] = {}
        for dev in devices:  # rebuild the in-memory maps from saved device states
            if dev.status == DeviceStatus.CLAIMED:
                self.claims.setdefault(dev.instance_uuid, []).append(dev)
            elif dev.status == DeviceStatus.ALLOCATED:
                self.allocations.setdefault(dev.instance_uuid, []).append(dev)

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]]) -> PciDevTracker:
        return cls([PciDevice(**r) for r in records])

    def to_records(self) -> list[dict[str, Any]]:
        return [asdict(d) for d in self.pci_devs]

    def free_devs(self) -> list[PciDevice]:
        return [d for d in self.pci_devs if d.status == DeviceStatus.AVAILABLE]

    def claim_instance(self, uuid: str, count: int) -> list[PciDevice]:
        """Nova ``claim_instance``: reserve ``count`` free devices for the instance."""
        free = self.free_devs()
        if len(free) < count:
            raise PciDeviceUnavailable(f"{count} PCI device(s) requested, {len(free)} free")
        devs = free[:count]
        for dev in devs:
            dev.claim(uuid)
        if devs:
            self.claims.setdefault(uuid, []).extend(devs)
        return devs

    def allocate_instance(self, uuid: str) -> list[PciDevice]:
        """Nova ``allocate_instance``: the instance's claims become allocations."""
        devs = self.claims.pop(uuid, [])
        for dev in devs:
            dev.allocate(uuid)
        if devs:
            self.allocations.setdefault(uuid, []).extend(devs)
        return devs

    def update_pci_for_instance(self, uuid: str) -> None:
        """Nova ``update_pci_for_instance`` (sign=1) for an instance that is on this host."""
        self.allocate_instance(uuid)

    def free_instance(self, uuid: str) -> list[PciDevice]:
        """Free every claim and allocation of the instance."""
        devs = self.claims.pop(uuid, []) + self.allocations.pop(uuid, [])
        for dev in devs:
            dev.free()
        return devs

    def clean_usage(self, instances: Iterable[str], migrations: Iterable[str]) -> list[str]:
        """Nova ``clean_usage``: free claims and allocations of every instance that is in
        neither list. Returns the uuids freed. This is where bug 1896463 loses devices."""
        existed = set(instances) | set(migrations)
        freed = [u for u in list(self.claims) + list(self.allocations) if u not in existed]
        for uuid in freed:
            self.free_instance(uuid)
        return sorted(set(freed))

    def bound(self, uuid: str) -> int:
        return len(self.claims.get(uuid, [])) + len(self.allocations.get(uuid, []))
