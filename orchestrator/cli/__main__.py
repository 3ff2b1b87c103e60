"""``python -m orchestrator.cli``: the ``testbed`` command without its console script."""

import sys

from orchestrator.cli.main import main

sys.exit(main())
