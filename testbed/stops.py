"""The stop signals (Ctrl-C's SIGINT, and SIGTERM), shared by whoever forks a host and the host.

A process that forks a host blocks them across the fork (``orchestrator.cluster.stops``), so
that the child is born with them blocked and takes them only once its own handling is in place
(``testbed.launch.host_main``). Kept apart from ``testbed.launch`` so that the command line can
name them without loading what a host needs.
"""

from __future__ import annotations

import signal

STOPS = frozenset({signal.SIGINT, signal.SIGTERM})
