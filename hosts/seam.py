"""What every system's host side says the same way: a compute manager after Nova's, whose
``init_host``, ``update_available_resource`` and ``pci_view`` are the seam's ``start``,
``audit`` and ``resource_view`` (``testbed.system.HostSystem``). A system's host class puts
this before its manager."""

from __future__ import annotations

from typing import Any


class ManagerSeam:
    def start(self) -> None:
        self.init_host()  # type: ignore[attr-defined]

    def audit(self) -> list[str]:
        return self.update_available_resource()  # type: ignore[attr-defined]

    def resource_view(self) -> list[dict[str, Any]]:
        return self.pci_view()  # type: ignore[attr-defined]
