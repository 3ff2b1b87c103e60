"""Joining: configuration errors and rate-limited log lines, without a cluster."""

from __future__ import annotations

import time
from pathlib import Path

import pytest


def test_listen_and_curve_configuration_errors() -> None:
    from orchestrator.cli.options import load
    from testbed.errors import ConfigError

    with pytest.raises(ConfigError, match="'cluster.listen' must be tcp://ADDR:PORT"):
        load(sets=["cluster.transport=tcp", "cluster.listen=10.0.0.1"])
    with pytest.raises(ConfigError, match="needs cluster.transport"):
        load(sets=["cluster.listen=tcp://127.0.0.1:0"])
    with pytest.raises(ConfigError, match="loopback only"):
        load(
            sets=["cluster.transport=tcp", "cluster.curve=false", "cluster.listen=tcp://0.0.0.0:0"]
        )
    with pytest.raises(ConfigError, match="'cluster.joined': unknown host 'host9'"):
        load(sets=["cluster.joined=host9"])


def test_rate_limited_lines_count_what_they_held_back(caplog) -> None:
    import logging

    from testbed.ratelimit import RateLimited, kind_of

    limited = RateLimited(logging.getLogger("testbed.test"), interval=0.2)
    with caplog.at_level(logging.WARNING, "testbed.test"):
        logged = [limited.warning(kind_of(f"unknown op '{i}'"), "bad %d", i) for i in range(100)]
        time.sleep(0.25)
        limited.warning(kind_of("unknown op 'x'"), "bad again")
    assert logged.count(True) == 1
    assert [r.getMessage() for r in caplog.records][-1].endswith(
        "(and 99 more like it in the last 0.2 s)"
    )


def test_up_says_how_a_host_joins_or_that_none_may(tmp_path: Path) -> None:
    from orchestrator.cli.control import _join_line
    from testbed.config import Config

    config = Config()
    assert _join_line(config, tmp_path / "join.json") == (
        "join: no host joins this cluster (cluster.joined is empty)"
    )
    config.cluster.joined = ["host2"]
    line = _join_line(config, tmp_path / "join.json")
    assert line == f"join: testbed host NAME --join-file {tmp_path / 'join.json'} (NAME: host2)"
