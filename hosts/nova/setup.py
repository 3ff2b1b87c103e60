"""A host process set up as ``nova-compute`` sets itself up (``nova/cmd/compute.py``): Nova's
configuration parsed, this host's name, every object registered, no database access, and every
remotable object call through ``NovaObject.indirection_api``: here the testbed's client to the
orchestrator's conductor. A call path that is missed raises instead of touching a database."""

from __future__ import annotations

import logging
import tempfile
from typing import Any

import nova.conf
import nova.config
from nova import objects
from nova.compute import provider_tree
from nova.db.main import api as db_api
from nova.objects import base as objects_base
from nova.scheduler.client import report

from hosts.nova.objects_client import Caller, ObjectClient
from testbed.config import Config
from testbed.logs import ROOT as LOG_ROOT
from testbed.systems.nova import nova_conf

CONF = nova.conf.CONF


def configure(host: str, config: Config, caller: Caller) -> None:
    """Configure Nova in this process for ``host``. Its ``nova.conf`` is read from a private
    temporary file removed at once (oslo.config reads it when parsing; the compute part takes
    no file lock: ``compute_resources`` is a lock inside the process)."""
    with tempfile.NamedTemporaryFile("w", prefix=f"nova-{host}-", suffix=".conf") as fh:
        fh.write(nova_conf(config))
        fh.flush()
        CONF.clear()  # the process it was forked from parsed its own
        root = logging.getLogger()
        before = list(root.handlers)
        nova.config.parse_args(["nova-compute", "--config-file", fh.name])
    # parsing puts a console handler on the root logger: Nova's warnings go to the run's log
    # with the host's own records instead (its handlers are installed before the system)
    for handler in [h for h in root.handlers if h not in before]:
        root.removeHandler(handler)
    nova_log = logging.getLogger("nova")
    nova_log.setLevel(logging.WARNING)
    nova_log.propagate = False
    for handler in logging.getLogger(LOG_ROOT).handlers:
        nova_log.addHandler(handler)
    CONF.set_override("host", host)
    objects.register_all()
    db_api.DISABLE_DB_ACCESS = True
    objects_base.NovaObject.indirection_api = ObjectClient(caller)


class StubReportClient:
    """Placement, stubbed: a local ``ProviderTree`` and no allocations. No allocation the PCI
    race depends on lives in placement (PCI devices are tracked in ``pci_devices`` rows, unless
    ``[pci] report_in_placement``, which is off), so nothing the race needs is faked."""

    def __init__(self) -> None:
        self.tree = provider_tree.ProviderTree()

    def get_provider_subtree_and_ensure_root(
        self, context: Any, rp_uuid: str, name: str | None = None, **_: Any
    ) -> provider_tree.ProviderTree:
        if not self.tree.exists(rp_uuid):
            self.tree.new_root(name, rp_uuid)
        return self.tree

    def update_from_provider_tree(self, context: Any, new_tree: Any, allocations: Any = None):
        self.tree = new_tree

    def get_allocations_for_provider_tree(self, context: Any, nodename: str) -> dict:
        return {}

    def get_allocations_for_resource_provider(self, context: Any, rp_uuid: str) -> Any:
        return report.ProviderAllocInfo(allocations={})

    def get_allocs_for_consumer(self, context: Any, consumer: str) -> dict:
        return {"allocations": {}}

    def remove_provider_tree_from_instance_allocation(self, *_: Any) -> bool:
        return True

    def delete_allocation_for_instance(self, *_: Any, **__: Any) -> bool:
        return True

    def clear_provider_cache(self, init: bool = False) -> None:
        self.tree = provider_tree.ProviderTree()
