"""Unit tests of the configuration: testbed.config (schema, layers), testbed.validate (the
cross-field checks), the flags that become layers (orchestrator.cli.options) and the CLI's
configuration errors.

The CLI cases only use errors detected before any cluster starts, so each run is fast.
"""

import json

import pytest
from helpers import run_cli

from orchestrator.cli.options import CHECK_FOOTPRINTS_ENV, load, parse_delay, parse_set
from testbed.config import Config, key_path
from testbed.errors import ConfigError
from testbed.points import POINTS, Address
from testbed.validate import validate


def write(tmp_path, text, name="config.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


# -- accepted configurations ---------------------------------------------------------------


def test_defaults(monkeypatch):
    monkeypatch.delenv(CHECK_FOOTPRINTS_ENV)  # the suite turns the check on (tests/conftest.py)
    config = load()
    assert config == Config()
    assert config.cluster.hosts == ["host1", "host2"]
    assert config.cluster.tracker == "fixed"
    assert config.delays == {}


def test_layers_apply_in_order_later_wins(tmp_path):
    path = write(
        tmp_path,
        '[timeouts]\nrpc = 3\nsettle = 4.5\n[cluster]\ntracker = "buggy"\n'
        '[delays]\n"host2:audit.start" = 0.25\n',
    )
    config = load(
        [("scenario", {"timeouts": {"rpc": 1.0, "host_start": 7}, "devices": {"per_host": 3}})],
        path,
        sets=["timeouts.settle=6", "devices.hosts.host1=5"],
        delays=["host2:audit.start=0.5", "*:evacuate.spawn=1"],
        tracker="fixed",
    )
    assert config.timeouts.rpc == 3.0 and isinstance(config.timeouts.rpc, float)
    assert config.timeouts.host_start == 7.0
    assert config.timeouts.settle == 6.0
    assert config.devices.count("host1") == 5
    assert config.devices.count("host2") == 3
    assert config.cluster.tracker == "fixed"
    assert config.delays == {"host2:audit.start": 0.5, "*:evacuate.spawn": 1.0}
    assert config.addresses(config.delays) == {
        Address("host2", "audit.start"): 0.5,
        Address("*", "evacuate.spawn"): 1.0,
    }


def test_set_converts_command_line_strings():
    config = load(
        sets=[
            "cluster.hosts=a, b ,c",
            "cluster.audit_interval=0",
            "devices.per_host=4",
            "checks.wait=exponential",
        ]
    )
    assert config.cluster.hosts == ["a", "b", "c"]
    assert config.cluster.audit_interval == 0.0
    assert config.devices.per_host == 4 and isinstance(config.devices.per_host, int)
    assert config.checks.wait == "exponential"


def test_delay_hosts_are_checked_against_the_final_host_list():
    config = load(sets=["cluster.hosts=a,b"], delays=["b:audit.start=1"])
    assert config.delays == {"b:audit.start": 1.0}
    with pytest.raises(ConfigError, match=r"unknown host 'host2' in 'host2:audit.start'"):
        load(sets=["cluster.hosts=a,b"], delays=["host2:audit.start=1"])


def test_parse_set_and_parse_delay_build_one_key_layers():
    assert parse_set("timeouts.rpc=3") == {"timeouts": {"rpc": "3"}}
    assert parse_set("devices.hosts.host1 = 2") == {"devices": {"hosts": {"host1": "2"}}}
    assert parse_delay("*:audit.start=0.5") == {"delays": {"*:audit.start": "0.5"}}


def test_a_dotted_key_splits_by_the_schema():
    """Host names (FQDNs) and point addresses have dots of their own: only the schema says
    where a key's path ends."""
    assert key_path("timeouts.rpc") == ["timeouts", "rpc"]
    assert key_path("delays.h.example.org:audit.start") == ["delays", "h.example.org:audit.start"]
    assert key_path("devices.hosts.h.example.org") == ["devices", "hosts", "h.example.org"]
    assert key_path("network.delay.h.example.org") == ["network", "delay", "h.example.org"]
    assert key_path("timeouts.rpc.x") == ["timeouts", "rpc", "x"]  # no table: one key too many
    assert parse_set("network.delay.h.example.org=0.1") == {
        "network": {"delay": {"h.example.org": "0.1"}}
    }


# -- configuration errors (load) ----------------------------------------------------------


def test_unknown_section_in_a_file(tmp_path):
    path = write(tmp_path, "[bogus]\nx = 1\n")
    with pytest.raises(ConfigError, match=r"config file '.*config\.toml': unknown section 'bogus'"):
        load(config_file=path)


def test_unknown_section_in_a_layer():
    with pytest.raises(ConfigError, match=r"^scenario X: unknown section 'timeout'$"):
        load([("scenario X", {"timeout": {"rpc": 1}})])


@pytest.mark.parametrize(
    "text, key",
    [
        ("timeouts.rpcc=1", "timeouts.rpcc"),
        ("cluster.host=a", "cluster.host"),
        ("checks.stop=1", "checks.stop"),
    ],
)
def test_unknown_key_named(text, key):
    with pytest.raises(ConfigError, match=rf"^--set '{text}': unknown key '{key}'$"):
        load(sets=[text])


def test_unknown_key_in_a_file(tmp_path):
    path = write(tmp_path, "[timeouts]\nrpc = 1\nrpcc = 2\n")
    with pytest.raises(ConfigError, match=r"unknown key 'timeouts\.rpcc'"):
        load(config_file=path)


@pytest.mark.parametrize(
    "toml, message",
    [
        ('[timeouts]\nrpc = "fast"\n', r"'timeouts\.rpc' must be a number, got 'fast'"),
        ("[timeouts]\nrpc = true\n", r"'timeouts\.rpc' must be a number, got True"),
        ("[timeouts]\nrpc = [1]\n", r"'timeouts\.rpc' must be a number"),
        ("[devices]\nper_host = 1.5\n", r"'devices\.per_host' must be an integer, got 1\.5"),
        ("[devices]\nper_host = true\n", r"'devices\.per_host' must be an integer, got True"),
        ("[cluster]\ntracker = 3\n", r"'cluster\.tracker' must be a string, got 3"),
        ("[cluster]\nhosts = [1, 2]\n", r"'cluster\.hosts' must be a list of names"),
        ("[devices]\nhosts = 3\n", r"'devices\.hosts' must be a table"),
        ('[devices.hosts]\nhost1 = "x"\n', r"'devices\.hosts\.host1' must be an integer"),
        ("delays = 3\n", r"'delays' must be a table"),
        ("timeouts = 3\n", r"'timeouts' must be a table"),
        ('[delays]\n"host2:audit.start" = "x"\n', r"'delays\.host2:audit\.start' must be a number"),
    ],
)
def test_wrong_type_in_a_file(tmp_path, toml, message):
    with pytest.raises(ConfigError, match=message):
        load(config_file=write(tmp_path, toml))


@pytest.mark.parametrize(
    "text, message",
    [
        ("timeouts.rpc=abc", r"'timeouts\.rpc' must be a number, got 'abc'"),
        ("devices.per_host=two", r"'devices\.per_host' must be an integer, got 'two'"),
        ("devices.per_host=1.5", r"'devices\.per_host' must be an integer, got '1\.5'"),
    ],
)
def test_wrong_type_on_the_command_line(text, message):
    with pytest.raises(ConfigError, match=message):
        load(sets=[text])


@pytest.mark.parametrize(
    "text, key",
    [
        ("timeouts.rpc=-1", "timeouts.rpc"),
        ("checks.stop_after=-0.5", "checks.stop_after"),
        ("devices.per_host=-2", "devices.per_host"),
        ("devices.hosts.host1=-1", "devices.hosts.host1"),
    ],
)
def test_negative_number(text, key):
    with pytest.raises(ConfigError, match=rf"'{key}' must not be negative"):
        load(sets=[text])


def test_negative_number_in_a_file(tmp_path):
    with pytest.raises(ConfigError, match=r"'timeouts\.settle' must not be negative, got -3"):
        load(config_file=write(tmp_path, "[timeouts]\nsettle = -3\n"))


def test_negative_delay_on_the_command_line():
    with pytest.raises(ConfigError, match=r"'delays\.host2:audit\.start' must not be negative"):
        load(delays=["host2:audit.start=-0.5"])


def test_negative_delay_in_a_file(tmp_path):
    path = write(tmp_path, '[delays]\n"*:evacuate.spawn" = -1\n')
    with pytest.raises(ConfigError, match=r"'delays\.\*:evacuate\.spawn' must not be negative"):
        load(config_file=path)


def test_negative_delay_in_a_layer_built_programmatically():
    config = Config()
    config.delays["host2:audit.start"] = -1.0  # bypassing the layers: validate still catches it
    with pytest.raises(ConfigError, match=r"delay 'host2:audit\.start' must not be negative"):
        validate(config)


@pytest.mark.parametrize(
    "delay", ["host2:audit.begin=1", "*:nope=1", "host2:drop_migration_context=1"]
)
def test_unknown_point_on_the_command_line(delay):
    point = delay.split(":")[1].split("=")[0]
    with pytest.raises(ConfigError, match=rf"unknown injection point '{point}'"):
        load(delays=[delay])


def test_unknown_point_in_a_file(tmp_path):
    path = write(tmp_path, '[delays]\n"host2:audit.nope" = 1\n')
    with pytest.raises(ConfigError, match=r"unknown injection point 'audit\.nope'"):
        load(config_file=path)


@pytest.mark.parametrize("delay", ["audit.start=1", ":audit.start=1", "host2:=1", "host2"])
def test_bad_delay_syntax(delay):
    with pytest.raises(ConfigError, match=r"HOST:POINT"):
        load(delays=[delay])


def test_unknown_host_in_a_delay():
    with pytest.raises(ConfigError, match=r"unknown host 'host9' in 'host9:audit\.start'"):
        load(delays=["host9:audit.start=1"])


def test_unknown_host_in_a_file_delay(tmp_path):
    path = write(tmp_path, '[delays]\n"host3:audit.start" = 1\n')
    with pytest.raises(ConfigError, match=r"unknown host 'host3'"):
        load(config_file=path)


@pytest.mark.parametrize(
    "text", ["timeouts.rpc", "rpc=3", "timeouts..rpc=3", ".rpc=3", "timeouts.=3", "=3"]
)
def test_bad_set_syntax(text):
    with pytest.raises(ConfigError, match=r"is not SECTION\.KEY=VALUE"):
        load(sets=[text])


def test_unreadable_file_missing(tmp_path):
    path = tmp_path / "missing.toml"
    with pytest.raises(ConfigError, match=r"cannot read config file '.*missing\.toml': No such"):
        load(config_file=path)


def test_unreadable_file_is_a_directory(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read config file"):
        load(config_file=tmp_path)


def test_invalid_toml(tmp_path):
    path = write(tmp_path, "[timeouts\nrpc = 1\n")
    with pytest.raises(ConfigError, match=r"config file '.*' is not valid TOML"):
        load(config_file=path)


def test_config_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('[cluster]\ntracker = "d\xe9j\xe0"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.toml"):
        load(config_file=path)


def test_bad_tracker():
    with pytest.raises(ConfigError, match=r"'cluster\.tracker' must be one of buggy, fixed: 'x'"):
        load(tracker="x")
    with pytest.raises(ConfigError, match=r"'cluster\.tracker' must be one of"):
        load(sets=["cluster.tracker=slow"])


@pytest.mark.parametrize(
    "sets, message",
    [
        (["cluster.transport=udp"], r"'cluster\.transport' must be one of ipc, tcp: 'udp'"),
        (["checks.wait=random"], r"'checks\.wait' must be one of fixed, exponential"),
        (["cluster.hosts=a,a"], r"'cluster\.hosts' must name at least one host, each once"),
        (["cluster.hosts="], r"'cluster\.hosts' must name at least one host"),
        (["cluster.hosts=a,b/c"], r"host name 'b/c'"),
        (["devices.hosts.host7=1"], r"'devices\.hosts\.host7': unknown host 'host7'"),
    ],
)
def test_cross_field_validation(sets, message):
    with pytest.raises(ConfigError, match=message):
        load(sets=sets)


@pytest.mark.parametrize(
    "sets, delays",
    [
        (["timeouts.rpc=nan"], []),
        (["timeouts.settle=inf"], []),
        ([], ["host2:audit.start=inf"]),
        ([], ["host2:audit.start=nan"]),
    ],
)
def test_non_finite_durations_are_refused(sets, delays):
    with pytest.raises(ConfigError):
        load(sets=sets, delays=delays)


# -- the CLI ---------------------------------------------------------------------------------


def assert_usage_error(proc, *needles):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("testbed: ")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert proc.stdout == ""


@pytest.mark.parametrize(
    "args, needles",
    [
        (["--set", "timeouts.rpcc=1"], ["unknown key 'timeouts.rpcc'", "--set"]),
        (["--set", "timeouts.rpc=abc"], ["'timeouts.rpc' must be a number", "'abc'"]),
        (["--set", "timeouts.rpc=-1"], ["'timeouts.rpc' must not be negative"]),
        (["--set", "timeoutsrpc"], ["'timeoutsrpc' is not SECTION.KEY=VALUE"]),
        (["--set", "cluster.tracker=slow"], ["'cluster.tracker'", "'slow'"]),
        (["--delay", "host2:audit.start=-0.5"], ["host2:audit.start", "must not be negative"]),
        (["--delay", "host2:audit.begin=1"], ["unknown injection point 'audit.begin'"]),
        (["--delay", "host9:audit.start=1"], ["unknown host 'host9'"]),
        (["--delay", "audit.start=1"], ["'audit.start' is not HOST:POINT"]),
        (["--tracker", "slow"], ["--tracker", "'slow'"]),
        (["--config", "missing.toml"], ["cannot read config file 'missing.toml'"]),
        (["no-such-scenario"], ["unknown scenario 'no-such-scenario'"]),
    ],
)
def test_cli_configuration_errors(tmp_path, args, needles):
    assert_usage_error(run_cli("run", *args, cwd=tmp_path), *needles)


@pytest.mark.parametrize(
    "toml, needles",
    [
        ("[bogus]\n", ["unknown section 'bogus'", "bad.toml"]),
        ("[timeouts]\nrpcc = 1\n", ["unknown key 'timeouts.rpcc'"]),
        ("[devices]\nper_host = 1.5\n", ["'devices.per_host' must be an integer"]),
        ('[delays]\n"host2:audit.start" = -1\n', ["host2:audit.start", "must not be negative"]),
        ("[timeouts\n", ["bad.toml", "is not valid TOML"]),
    ],
)
def test_cli_configuration_file_errors(tmp_path, toml, needles):
    write(tmp_path, toml, "bad.toml")
    assert_usage_error(run_cli("run", "--config", "bad.toml", cwd=tmp_path), *needles)


def test_cli_config_file_that_is_not_utf8(tmp_path):
    (tmp_path / "latin1.toml").write_bytes(b'[cluster]\ntracker = "d\xe9j\xe0"\n')
    assert_usage_error(run_cli("run", "--config", "latin1.toml", cwd=tmp_path), "latin1.toml")


def test_cli_points_json(tmp_path):
    proc = run_cli("points", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    points = json.loads(proc.stdout)
    assert [p["name"] for p in points] == list(POINTS)
    assert all(set(p) == {"name", "path", "before", "doc"} for p in points)
    by_name = {p["name"]: p for p in points}
    assert by_name["instance.drop_migration_context"]["path"] == "evacuate"
    assert by_name["migration_list.get_in_progress_and_error"]["path"] == "audit"
    assert by_name["audit.clean_usage"]["before"] == "clean_usage"


def test_late_address_errors_name_their_layer():
    with pytest.raises(ConfigError, match=r"^--delay 'host9:audit\.start=1': unknown host 'host9'"):
        load(delays=["host9:audit.start=1"])
    with pytest.raises(ConfigError, match=r"^--set 'holds\.host2:audit\.start=host7:audit\.save'"):
        load(sets=["holds.host2:audit.start=host7:audit.save"])
    # a later layer may bring the host: then the address is fine
    config = load(delays=["host3:audit.start=1"], sets=["cluster.hosts=host1,host2,host3"])
    assert config.delays == {"host3:audit.start": 1.0}
