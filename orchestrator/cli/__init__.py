"""The command line: ``testbed run|explore|sweep|points|scenarios`` (``main``) and ``testbed
up`` with the control commands that drive it (``control``).

A face of the orchestrator: it parses, prints and maps errors to exit codes; it holds no logic
of the cluster. Heavy imports (ZeroMQ, SQLite, the cluster) happen inside the commands that
need them, so ``testbed --help`` starts at once.
"""
