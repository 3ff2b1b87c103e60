"""Holds naming unknown points or hosts are configuration errors."""

from __future__ import annotations

import pytest


def test_holds_on_unknown_points_or_hosts_are_config_errors() -> None:
    from orchestrator.cli.options import load
    from testbed.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown injection point 'audit.nope'"):
        load(sets=["holds.host2:audit.start=host2:audit.nope"])
    with pytest.raises(ConfigError, match="unknown host 'host7'"):
        load(sets=["holds.host7:audit.start=host2:evacuate.claim"])
