"""Configuration: the schema and its layering. Defaults, then layers (a scenario's, a TOML
file, overrides), then the cross-field checks (``testbed.validate``).

Every section is a small dataclass; a layer is a plain mapping checked against them, so an
unknown key, a wrong type or a negative duration is reported naming the key and the layer.
It only turns layers into a ``Config`` or a ``ConfigError``: it must not read the environment
or a command line (the faces turn their flags into layers), start anything, or decide what a
value means at run time."""

from __future__ import annotations

import dataclasses
import functools
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from testbed import fields
from testbed import fixes as fix_catalogue
from testbed.errors import ConfigError
from testbed.points import Address, parse_address
from testbed.validate import validate

# A configuration layer: where it comes from (named in errors), and its sections.
Layer = tuple[str, Mapping[str, Any]]



@dataclass
class Cluster:
    hosts: list[str] = field(default_factory=lambda: ["host1", "host2"])
    system: str = "model"  # the system under test (testbed.system.SYSTEMS)
    # The named fixes every host runs with (testbed.fixes). Setting ``tracker`` sets them all:
    # fixed = every fix on, buggy = none; once layered, ``tracker`` shows the set (fixes.label).
    tracker: str = "fixed"
    fixes: list[str] = field(default_factory=lambda: list(fix_catalogue.ALL))
    transport: str = "ipc"  # ipc: private per-run directory; tcp: 127.0.0.1, port at bind
    audit_interval: float = 60.0  # periodic update_available_resource; 0 turns it off
    host_entry: str = "hosts.process:main"  # the compute host's process entry (the SUT)
    trace: list[str] = field(default_factory=list)  # hosts reporting every point and lock
    # set by the explorer, from ``explore.timer_fires``: a traced host's periodic audit fires
    # when the explorer says, at most this many times per schedule (0: on its clock)
    timer_fires: int = 0
    history: bool = True  # record history.jsonl in the run directory (every process's events)
    # record what each conductor request touches; an access outside its footprint fails the run
    check_footprints: bool = False
    joined: list[str] = field(default_factory=list)  # hosts that join (testbed host --join)
    listen: str = ""  # tcp://ADDR:PORT; empty: loopback, port picked at bind
    curve: bool = True  # tcp: ZeroMQ CURVE with keys issued per cluster; false: loopback only


@dataclass
class Devices:
    per_host: int = 2
    per_server: int = 1  # devices a server requests unless its step says otherwise
    vendor_id: str = "8086"
    product_id: str = "154c"
    hosts: dict[str, int] = field(default_factory=dict)  # per-host count overrides

    def count(self, host: str) -> int:
        return self.hosts.get(host, self.per_host)


@dataclass
class Timeouts:
    rpc: float = 2.0  # a request's reply deadline
    heartbeat_interval: float = 0.05  # how often a host reports it is alive
    service_down_time: float = 0.5  # a host is down after this long without a heartbeat
    orphan_after: float = 2.0  # a host exits when its orchestrator is silent this long
    host_start: float = 10.0  # a started host must register within this
    settle: float = 10.0  # waits for a server/migration/task to reach a state
    stop_grace: float = 2.0  # graceful stop before SIGKILL
    hold: float = 5.0  # a point held by a hold gives up (with an error) after this


@dataclass
class Checks:
    stop_after: float = 5.0  # give up retrying a check after this many seconds
    wait: str = "fixed"  # fixed | exponential
    wait_min: float = 0.05  # fixed: the wait; exponential: the first wait
    wait_max: float = 1.0  # exponential: the largest wait


@dataclass
class Network:
    """Faults on each host's link to the orchestrator (``orchestrator.cluster.network``), from the
    start of a run; the ``partition``, ``heal`` and ``slow`` steps change them later."""

    seed: int = 0  # random delays and drops: the same seed draws the same amounts
    partition: dict[str, str] = field(default_factory=dict)  # host -> both | to_host | from_host
    delay: dict[str, float] = field(default_factory=dict)  # host -> seconds per message
    jitter: dict[str, float] = field(default_factory=dict)  # host -> up to this much more
    drop: dict[str, float] = field(default_factory=dict)  # host -> fraction of messages lost


@dataclass
class Explore:
    """How ``testbed explore`` explores the scenario (a plain run ignores it)."""

    # each explored host's periodic audit (audit_interval > 0) is a timer the explorer fires
    # where it chooses, at most this many times per schedule; 0: only the scenario's audit steps
    timer_fires: int = 1


@dataclass
class Config:
    cluster: Cluster = field(default_factory=Cluster)
    devices: Devices = field(default_factory=Devices)
    timeouts: Timeouts = field(default_factory=Timeouts)
    checks: Checks = field(default_factory=Checks)
    network: Network = field(default_factory=Network)
    explore: Explore = field(default_factory=Explore)
    delays: dict[str, float] = field(default_factory=dict)  # "HOST:POINT" -> seconds
    faults: dict[str, str] = field(default_factory=dict)  # "HOST:POINT" -> "kill"
    holds: dict[str, list[str]] = field(default_factory=dict)  # point -> points passed first
    # "section.key" of an address table -> the layer that set it, so that errors found only
    # once every layer is in (an unknown host) can still name where the key came from
    origins: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def addresses(self, table: dict[str, Any]) -> dict[Address, Any]:
        """A table keyed by ``HOST:POINT`` (delays, faults, holds) with parsed keys."""
        return {parse_address(k, self.cluster.hosts): v for k, v in table.items()}

    def traced(self, host: str) -> bool:
        """Does ``host`` report its points and lock use to the orchestrator? Holds need it on
        every host they name (``*``: every host); the others run without a round trip a point."""
        named = {a.partition(":")[0] for key, after in self.holds.items() for a in (key, *after)}
        return host in self.cluster.trace or host in named or "*" in named

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """A section's field types, resolved once: every layer's every key is checked against
    them, and resolving string annotations compiles each one again."""
    return get_type_hints(cls)


SECTIONS = {f.name: f for f in dataclasses.fields(Config) if f.name != "origins"}
FREE_FORM = {n for n in SECTIONS if getattr(_hints(Config)[n], "__origin__", 0) is dict}


def _coerce(value: Any, tp: Any, key: str, where: str) -> Any:
    """Check (TOML) or convert (command-line string) one value to the declared type."""
    try:
        return fields.check(value, tp, text=True, bounded=True)
    except fields.FieldError as exc:
        raise ConfigError(f"{where}: '{key}' {exc}") from None


# Keys of [cluster] that set the fixes, in the order one layer applies them: the tracker (all
# or none), the exact set, then one bug on or off on top (``--fix``, ``--no-fix``).
FIX_KEYS = ("tracker", "fixes", "fix", "no_fix")


def _merge_fixes(cluster: Cluster, raw: dict[str, Any], where: str) -> None:
    """Take the fix keys out of ``raw`` (a [cluster] table) and apply them to ``cluster``."""
    for key in FIX_KEYS:
        if key not in raw:
            continue
        value = raw.pop(key)
        if key == "tracker":
            value = _coerce(value, str, "cluster.tracker", where)
            cluster.fixes = fix_catalogue.preset(value, where)
            continue
        bugs = fix_catalogue.check(_coerce(value, list[str], f"cluster.{key}", where), where)
        if key == "fixes":
            cluster.fixes = bugs
        elif key == "fix":
            cluster.fixes = fix_catalogue.check({*cluster.fixes, *bugs}, where)
        else:
            cluster.fixes = [b for b in cluster.fixes if b not in bugs]
    cluster.tracker = fix_catalogue.label(cluster.fixes)


def _merge_section(
    target: Any, raw: Mapping[str, Any], section: str, where: str, origins: dict[str, str]
) -> None:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: '{section}' must be a table")
    if isinstance(target, Cluster):
        raw = dict(raw)
        _merge_fixes(target, raw, where)
    if isinstance(target, dict):  # free-form keys (point addresses), typed values
        tp = _hints(Config)[section].__args__[1]
        for key, value in raw.items():
            target[key] = _coerce(value, tp, f"{section}.{key}", where)
            origins[f"{section}.{key}"] = where
        return
    types = _hints(type(target))
    for key, value in raw.items():
        tp = types.get(key)
        if tp is None:
            raise ConfigError(f"{where}: unknown key '{section}.{key}'")
        if getattr(tp, "__origin__", None) is dict:
            sub = dict(getattr(target, key))
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: '{section}.{key}' must be a table")
            for k, v in value.items():
                sub[k] = _coerce(v, tp.__args__[1], f"{section}.{key}.{k}", where)
            value = sub
        else:
            value = _coerce(value, tp, f"{section}.{key}", where)
        setattr(target, key, value)


def apply_layer(config: Config, layer: Mapping[str, Any], where: str) -> None:
    """Apply one mapping (a TOML document or parsed overrides) onto ``config`` in place."""
    for section, raw in layer.items():
        if section not in SECTIONS:
            raise ConfigError(f"{where}: unknown section '{section}'")
        _merge_section(getattr(config, section), raw, section, where, config.origins)


def _is_table(section: str, key: str) -> bool:
    if section not in SECTIONS or section in FREE_FORM:
        return False
    tp = _hints(_hints(Config)[section]).get(key)
    return getattr(tp, "__origin__", None) is dict


def key_path(key: str) -> list[str]:
    """A dotted key (``timeouts.rpc``) as the names of the tables it goes through, then the
    key. The keys of free-form tables (``delays``) are point addresses, which contain dots
    themselves; so are the keys of a section's tables (``devices.hosts.HOST``), host names
    being FQDNs. An empty name in the result means the key is malformed."""
    section, _, rest = key.strip().partition(".")
    name, _, sub = rest.partition(".")
    if section in FREE_FORM:
        return [section, rest]
    if sub and _is_table(section, name):
        return [section, name, sub]
    return key.strip().split(".")


def read_toml(path: str | Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file '{path}': {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file '{path}' is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file '{path}' is not valid TOML: {exc}") from None


def build(layers: Iterable[Layer]) -> Config:
    """Defaults, then each layer in order (later wins), then the cross-field checks."""
    config = Config()
    for where, layer in layers:
        apply_layer(config, layer, where)
    return validate(config)
