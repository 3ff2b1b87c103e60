"""Shared by tests/unit (no process is started: tests/unit/conftest.py checks it) and
tests/integration (clusters, subprocesses, forks): fixtures, and this folder on the path for
helpers.py and planted_race.py."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # tests/helpers.py
# Every cluster the suite starts checks what each conductor request touches against its
# footprint, in this process and in every testbed command it runs (they inherit it).
os.environ["TESTBED_CHECK_FOOTPRINTS"] = "1"

import pytest  # noqa: E402

from orchestrator.cli.options import load  # noqa: E402
from orchestrator.cluster.cluster import Cluster  # noqa: E402
from orchestrator.history.recorder import for_run  # noqa: E402

pytest_plugins = ["pytester"]  # inner pytest sessions (test_plugin.py)

FAST = [
    "cluster.audit_interval=0",
    "timeouts.heartbeat_interval=0.02",
    "timeouts.service_down_time=0.15",
    "checks.stop_after=1",
]


@pytest.fixture
def make_cluster(tmp_path):
    """Start clusters with fast timeouts; every one is closed after the test, whatever happens."""
    made = []

    def make(*sets: str, delays: tuple[str, ...] = (), tracker: str = "fixed") -> Cluster:
        config = load(sets=[*FAST, *sets], delays=list(delays), tracker=tracker)
        cluster = Cluster(config, tmp_path / f"run{len(made)}", recorder=for_run)
        made.append(cluster)
        cluster.start()
        return cluster

    yield make
    for cluster in made:
        cluster.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``long`` (seconds each) first: xdist hands tests out in this order, so no
    worker is left running a long one alone while the others have finished."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)  # stable
