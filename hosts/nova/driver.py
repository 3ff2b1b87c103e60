"""The virt driver: Nova's ``SmallFakeDriver`` reporting this host's PCI devices.

The devices come from the testbed's ``[devices]`` section (vendor and product ids, the count for
this host), reported as a libvirt host reports them (``pci_passthrough_devices``, JSON), so
Nova's own ``PciDevTracker`` discovers, claims, allocates and frees them."""

from __future__ import annotations

from typing import Any

from nova.virt import fake
from oslo_serialization import jsonutils

from testbed.config import Config


def pci_address(index: int) -> str:
    """The address of this host's ``index``-th device (one function per slot, as VFs are)."""
    return f"0000:81:{index // 8:02x}.{index % 8}"


def make_driver_class(host: str, config: Config) -> type:
    """A ``SmallFakeDriver`` subclass reporting ``host``'s devices (a class: Nova's
    ``load_compute_driver`` and the tracker expect one driver instance per process)."""
    d = config.devices
    devices = [
        {
            "address": pci_address(i),
            "vendor_id": d.vendor_id,
            "product_id": d.product_id,
            "dev_type": "type-PCI",
            "status": "available",
            "parent_addr": None,
            "numa_node": None,
            "label": f"label_{d.vendor_id}_{d.product_id}",
        }
        for i in range(d.count(host))
    ]

    class TestbedFakeDriver(fake.SmallFakeDriver):
        def get_available_resource(self, nodename: str) -> dict[str, Any]:
            status = super().get_available_resource(nodename)
            status["pci_passthrough_devices"] = jsonutils.dumps(devices)
            return status

    return TestbedFakeDriver
