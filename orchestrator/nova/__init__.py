"""The nova system's orchestrator side: Nova's main database schema in the run's SQLite file,
Nova's conductor object methods serving the hosts' object calls, and the API's part of each
user action done with Nova's objects.

Importing this package imports Nova (``pip install '.[nova]'``); nothing outside
``orchestrator/nova`` and the nova tests may import it."""

import os
import warnings

# nova 34 runs on native threads; without this, importing parts of Nova monkey-patches the
# standard library with eventlet (and blocking ZeroMQ calls would need zmq.green).
os.environ.setdefault("OS_NOVA_DISABLE_EVENTLET_PATCHING", "1")

# futurist (a dependency of Nova's) imports eventlet, which warns that it is deprecated on every
# start: nothing this system runs uses it
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
