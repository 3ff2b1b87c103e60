"""testbed: a multi-process integration testbed for races in distributed resource tracking.

This package is the shared kernel: configuration, the injection point catalogue, the shared
vocabulary, wire format, transport, logging and the contract a forked host receives.
``hosts`` and ``orchestrator`` depend on it, never on each other. It must not import either of
them, lazily or not, and holds nothing that only one side uses."""

__version__ = "0.1.0"
