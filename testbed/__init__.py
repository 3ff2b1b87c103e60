"""testbed: a multi-process integration testbed for races in distributed resource tracking.

This package is the shared kernel: configuration, wire format, transport, injection points,
logging and retry policies. ``hosts`` and ``orchestrator`` depend on it, never on each other.
"""

__version__ = "0.1.0"
