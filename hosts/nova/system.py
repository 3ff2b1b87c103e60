"""The nova system's host side of the seam (``testbed.system.HostSystem``): Nova configured in
this host process as ``nova-compute`` configures itself (``hosts.nova.setup``), then Nova's
own resource tracker driven by the compute manager's call sequences (``hosts.nova.manager``).

The generic host process (``hosts.process``) makes it through the registry and serves its
commands; nothing here knows sockets or threads. Importing this module imports Nova; the
orchestrator has Nova's modules loaded before it forks a host, so a host imports nothing of
Nova's again."""

from __future__ import annotations

from typing import Any

import hosts.nova  # noqa: F401  (no eventlet patching; before any other Nova import)
from hosts.nova.manager import NovaComputeManager
from hosts.nova.setup import configure
from hosts.seam import ManagerSeam
from testbed.config import Config
from testbed.system import commands_of


class NovaHost(ManagerSeam, NovaComputeManager):
    # a refusal: Nova's own (a claim that does not fit, an instance or host not found...)
    expected_failures: tuple[type[BaseException], ...] = ()

    def __init__(self, host: str, config: Config, conductor: Any, inject: Any) -> None:
        configure(host, config, conductor)
        super().__init__(host, config, inject)

    def report(self) -> dict[str, Any]:
        from nova import version

        return {"system": "nova", "nova": version.version_string()}


def _refusals() -> tuple[type[BaseException], ...]:
    from nova import exception

    return (exception.NovaException,)


NovaHost.expected_failures = _refusals()
NovaHost.commands = commands_of(NovaHost)
