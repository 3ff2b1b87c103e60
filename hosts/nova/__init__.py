"""The nova system: Nova 34's own compute code (``ResourceTracker``, ``PciDevTracker``) in a host
process, set up as ``nova-compute`` is: no database access, every object call through
``NovaObject.indirection_api`` to the orchestrator's conductor over the testbed's transport.

Importing this package imports Nova (``pip install '.[nova]'``); nothing outside ``hosts/nova``
and the nova tests may import it."""

import os

# nova 34's compute runs on native threads; without this, importing parts of Nova monkey-patches
# the standard library with eventlet (and blocking ZeroMQ calls would need zmq.green).
os.environ.setdefault("OS_NOVA_DISABLE_EVENTLET_PATCHING", "1")
