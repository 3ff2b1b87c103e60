"""The network model without a cluster: seeded drops and jitter, configuration errors."""

from __future__ import annotations

import pytest

from orchestrator.cli.options import load
from orchestrator.cluster.network import FROM_HOST, TO_HOST, Network
from testbed.errors import ConfigError


def test_drops_and_jitter_follow_the_seed() -> None:
    def draws(seed: int) -> list[float | None]:
        config = load(
            sets=[
                f"network.seed={seed}",
                "network.drop.host1=0.3",
                "network.jitter.host1=0.1",
                "network.delay.host1=0.05",
            ]
        )
        net = Network(config)
        return [net.fate("host1", d) for d in (TO_HOST, FROM_HOST) * 50]

    assert draws(7) == draws(7) != draws(8)
    got = draws(7)
    assert 0 < got.count(None) < len(got)
    assert all(0.05 <= d <= 0.15 for d in got if d is not None)


def test_network_configuration_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match="network.partition.host1"):
        load(sets=["network.partition.host1=sideways"])
    with pytest.raises(ConfigError, match="'network.drop': unknown host 'host9'"):
        load(sets=["network.drop.host9=0.5"])
