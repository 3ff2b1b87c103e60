"""The nova system's orchestrator side of the seam (``testbed.system.OrchestratorSystem``),
named in the kernel's registry as ``orchestrator.nova.system:SYSTEM``.

Loading it imports Nova once for the whole cluster: the conductor's and the API's modules, and
the compute host's too (``PRELOAD``, Nova's modules only), before the supervisor forks any host,
so that each host inherits them instead of importing Nova again."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OS_NOVA_DISABLE_EVENTLET_PATCHING", "1")  # before any Nova import

from nova import objects  # noqa: E402

from orchestrator.nova.api import NovaAPI  # noqa: E402
from orchestrator.nova.conductor import OPS  # noqa: E402
from orchestrator.nova.describe import describe  # noqa: E402
from orchestrator.nova.store import NovaStore  # noqa: E402
from testbed.config import Config  # noqa: E402
from testbed.transport import RouterCaller  # noqa: E402

# What a compute host of the nova system runs of Nova (hosts.nova), loaded here so that the
# forked hosts share it.
PRELOAD = (
    "nova.compute.manager",
    "nova.compute.resource_tracker",
    "nova.compute.provider_tree",
    "nova.pci.manager",
    "nova.scheduler.client.report",
    "nova.virt.fake",
    "nova.version",
    "oslo_concurrency.lockutils",
)
for _module in PRELOAD:
    importlib.import_module(_module)
objects.register_all()


class NovaSystem:
    name = "nova"
    ops = OPS
    describe = staticmethod(describe)  # how the run's history names its requests
    # Nova's database layer is process-wide (one engine facade and its locks): a cluster made
    # or closed beside a running schedule stalls that schedule's conductor for seconds, past
    # the hosts' orphan timeout, so the explorer makes and closes each cluster in turn
    overlap = False

    def open_store(self, path: Path) -> NovaStore:
        return NovaStore(path)

    def make_api(
        self,
        state: NovaStore,
        commands: RouterCaller,
        config: Config,
        exited: Callable[[str], bool],
    ) -> NovaAPI:
        return NovaAPI(state, commands, config, exited)


SYSTEM = NovaSystem()
