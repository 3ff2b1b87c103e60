"""The orchestrator: owns the state (SQLite), serves the hosts as their conductor, offers the
API that scenarios, tests and the CLI use, and supervises the host processes.

Its rooms, low to high: ``holds``, ``cluster``, ``history``, ``run``, then ``explore`` and
``control``, then the faces (``cli``, ``pytest_plugin``); the systems under test (``model``,
``nova``) plug into the cluster by name. An import points down this order, never up or across
(``tests/unit/test_layers.py``).

It must not import ``hosts``: it knows them by their messages and by the entry named in
``cluster.host_entry``."""
