"""The model of Nova, the orchestrator's half (``cluster.system = "model"``): its tables and
store, the conductor operations its hosts call (with their footprints), the API's part of each
user action, and the checks' reading of allocations and invariants.

It may import the cluster's generic machinery (``orchestrator.cluster``) and the kernel; nothing
in ``orchestrator`` imports it (the cluster loads it by name, through ``testbed.system``), and
it must not import ``hosts``, nor running, exploring, history or control."""
