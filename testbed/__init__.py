"""testbed: a multi-process integration testbed for races in distributed resource tracking.

This package is the shared kernel: configuration, the injection point catalogue, wire format,
transport, logging and the contract a forked host receives. ``hosts`` and ``orchestrator``
depend on it, never on each other, and it imports neither of them.
"""

__version__ = "0.1.0"
