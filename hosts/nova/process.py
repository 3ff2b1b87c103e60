"""The nova system's host process entry (``cluster.host_entry = "hosts.nova.process:main"``):
the testbed's host process (``hosts.process``: sockets, threads, the command loop,
heartbeats) with Nova's compute manager and resource tracker in place of the model's.

Nova is configured in the host process itself, after the fork, as ``nova-compute`` is
(``hosts.nova.setup``); the parent may have Nova imported already, so a fork costs no import.
"""

from __future__ import annotations

import logging
import os

import hosts.nova  # noqa: F401  (no eventlet patching; before any other Nova import)
from hosts import process
from hosts.nova.manager import NovaComputeManager
from hosts.nova.setup import configure
from testbed.launch import HostSpec


class NovaHostProcess(process.HostProcess):
    def __init__(self, spec: HostSpec) -> None:
        super().__init__(spec)
        workdir = os.path.join(spec.run_dir, f"nova-{spec.name}")
        os.makedirs(workdir, exist_ok=True)
        configure(spec.name, spec.config, workdir, self.conductor)
        self.manager = NovaComputeManager(spec.name, spec.config, self.inject)


def main(spec: HostSpec, log_handler: logging.Handler) -> None:
    """Entry point of a nova host process: ``hosts.process.main`` with the nova host."""
    process.HostProcess = NovaHostProcess  # this process's own copy of the module, forked
    process.main(spec, log_handler)
