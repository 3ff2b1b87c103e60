"""Cross-field checks of a built configuration: choices, host names, device counts, point
addresses, the network and the listening address.

They run once every layer is in (``testbed.config.build``), since a key of one layer may name a
host that a later layer adds. It only reads a ``Config`` and raises ``ConfigError``; the
schema and the layering are ``testbed.config``'s."""

from __future__ import annotations

from typing import TYPE_CHECKING

from testbed import fixes as fix_catalogue
from testbed import system
from testbed.errors import ConfigError
from testbed.names import check_host
from testbed.points import parse_address
from testbed.vocabulary import FAULTS

if TYPE_CHECKING:
    from testbed.config import Cluster, Config

TRANSPORTS = ("ipc", "tcp")
WAITS = ("fixed", "exponential")
DIRECTIONS = ("both", "to_host", "from_host")  # which messages of a partitioned link are lost


def validate(config: Config) -> Config:
    """Cross-field checks: choices, host names, device counts, delay addresses."""
    c = config.cluster
    system.check(c.system)
    c.fixes = fix_catalogue.check(c.fixes, "'cluster.fixes'")
    c.tracker = fix_catalogue.label(c.fixes)
    if c.transport not in TRANSPORTS:
        raise ConfigError(
            f"'cluster.transport' must be one of {', '.join(TRANSPORTS)}: '{c.transport}'"
        )
    if not c.hosts or len(set(c.hosts)) != len(c.hosts):
        raise ConfigError("'cluster.hosts' must name at least one host, each once")
    for host in c.hosts:
        check_host(host, "'cluster.hosts'")
    for host in config.devices.hosts:
        if host not in c.hosts:
            raise ConfigError(f"'devices.hosts.{host}': unknown host '{host}'")
    if config.checks.wait not in WAITS:
        raise ConfigError(
            f"'checks.wait' must be one of {', '.join(WAITS)}: '{config.checks.wait}'"
        )
    for name in ("delays", "faults", "holds"):
        table = getattr(config, name)
        for key, value in table.items():
            try:  # hosts may come from a later layer, so addresses are checked last
                parse_address(key, c.hosts)
                for other in value if table is config.holds else ():
                    parse_address(other, c.hosts)
                if name == "delays" and value < 0:
                    raise ConfigError(f"delay '{key}' must not be negative, got {value}")
                if table is config.faults and value not in FAULTS:
                    raise ConfigError(
                        f"fault '{key}' must be one of {', '.join(FAULTS)}, got '{value}'"
                    )
            except ConfigError as exc:
                where = config.origins.get(f"{name}.{key}")
                raise ConfigError(f"{where}: {exc}" if where else str(exc)) from None
    for key in ("trace", "joined"):
        for host in getattr(c, key):
            if host not in c.hosts:
                raise ConfigError(f"'cluster.{key}': unknown host '{host}' (not in cluster.hosts)")
    _check_listen(c)
    _check_network(config)
    return config


def _check_network(config: Config) -> None:
    n = config.network
    for key in ("partition", "delay", "jitter", "drop"):
        for host, value in getattr(n, key).items():
            if host not in config.cluster.hosts:
                raise ConfigError(f"'network.{key}': unknown host '{host}'")
            if key == "partition" and value not in DIRECTIONS:
                raise ConfigError(
                    f"'network.partition.{host}' must be one of {', '.join(DIRECTIONS)}: '{value}'"
                )
            if key == "drop" and value > 1:
                raise ConfigError(f"'network.drop.{host}' is a fraction (0 to 1), got {value}")


_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def _check_listen(c: Cluster) -> None:
    if not c.listen:
        return
    addr, sep, port = c.listen.removeprefix("tcp://").rpartition(":")
    if not c.listen.startswith("tcp://") or not sep or not addr or not port.isdigit():
        raise ConfigError(
            f"'cluster.listen' must be tcp://ADDR:PORT (PORT 0: any), got '{c.listen}'"
        )
    if int(port) > 65535:
        raise ConfigError(f"'cluster.listen': port {port} is out of range")
    if c.transport != "tcp":
        raise ConfigError("'cluster.listen' needs cluster.transport = \"tcp\"")
    if not c.curve and addr not in _LOOPBACK:
        raise ConfigError(
            f"'cluster.curve' = false is for loopback only; '{c.listen}' listens on {addr}"
        )
