"""The command line: ``main`` dispatches to one module per command (``run``, ``explore``,
``sweep``, ``control`` for ``testbed up`` and the commands that drive it, ``show``, ``join`` for
``testbed host``, ``points``, ``scenarios``); ``options`` turns the configuration flags into
layers.

A face of the orchestrator: it parses, prints and maps errors to exit codes; it holds no logic
of the cluster. Heavy imports (ZeroMQ, SQLite, the cluster) happen inside the commands that
need them, so ``testbed --help`` starts at once.
"""
