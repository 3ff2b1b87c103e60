"""The ``testbed`` console script's entry: the command line with the cyclic garbage collector
off while it starts.

Start-up allocates what lives for the whole command (modules, parsers, the configuration, the
cluster's objects), and the collector would walk it some fifty times before the first host
runs (about 15 ms of a run that takes a few hundred). The cluster turns it back on once its
hosts are forked, after freezing what start-up built (``Cluster.start``); a forked or joined
host turns it on for itself. It must do nothing else: ``main`` is the command line.
"""

from __future__ import annotations

import gc


def entry() -> None:
    gc.disable()
    from orchestrator.cli.main import entry as run

    run()
