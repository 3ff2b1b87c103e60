"""``python -m orchestrator.cli``: the ``testbed`` command without its console script."""

from orchestrator.cli.script import entry

entry()
