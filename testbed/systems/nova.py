"""Nova's configuration for the nova system, as text: what both sides must agree on.

The orchestrator (Nova's API and conductor part) turns a flavor's alias into PCI requests; each
host (Nova's compute part) matches its devices against the device spec and the same alias. Both
are made here from the testbed's ``[devices]`` section, so the two sides cannot disagree. Plain
text only: it must not import Nova (the kernel stays importable without it).
"""

from __future__ import annotations

import json

from testbed.config import Config

ALIAS = "testbed-pci"  # the alias a server's flavor asks for: pci_passthrough:alias=ALIAS:N


def pci_extra_spec(count: int) -> dict[str, str]:
    """A flavor's extra spec asking for ``count`` devices."""
    return {"pci_passthrough:alias": f"{ALIAS}:{count}"} if count else {}


def nova_conf(config: Config, lock_path: str | None = None) -> str:
    """The ``nova.conf`` of either side (the orchestrator's database is not in it: each
    request context carries it).

    ``transport_url`` is only there so that ``nova.rpc.init`` succeeds: no message goes through
    oslo.messaging's transports (the testbed's own carries every call)."""
    d = config.devices
    spec = {"vendor_id": d.vendor_id, "product_id": d.product_id}
    alias = {"name": ALIAS, "device_type": "type-PCI"} | spec
    lines = [
        "[DEFAULT]",
        "transport_url = fake:/",
        "compute_driver = fake.SmallFakeDriver",
        "[oslo_messaging_notifications]",
        "driver = noop",
        *(["[oslo_concurrency]", f"lock_path = {lock_path}"] if lock_path else []),
        "[pci]",
        f"device_spec = {json.dumps(spec)}",
        f"alias = {json.dumps(alias)}",
    ]
    return "\n".join(lines) + "\n"
