"""The pytest plugin, from the outside: inner pytest sessions (pytester, real subprocesses)
use the installed plugin, and every host process they start is checked by pid afterwards.

Inner sessions get a conftest that records the pid of every host their clusters start as soon
as it starts, and, in ``pytest_unconfigure`` (the inner process is still alive, so only the
fixture's teardown can have stopped them), which of those pids still run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import alive, wait_gone

# What a host needs, at most, to exit once its orchestrator is gone: the heartbeat RPC in
# flight times out (min(rpc, orphan_after)), the next heartbeat tick notices the parent pid
# changed, the log queue flush is bounded to 1 s (hosts/process.py _flush).
ORPHAN_AFTER = 1.0
ORPHAN_SLACK = 2.0
RUN_TIMEOUT = 90  # bound on any inner pytest session

INNER_CONFTEST = r"""
import json
import os
from pathlib import Path

import pytest

PIDS = Path(__file__).parent / "pids"
_histories = []


def _alive(pid):
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    state = next((ln for ln in status.splitlines() if ln.startswith("State:")), "")
    return "Z" not in state.split()[1:2]


def _write(path, data):
    PIDS.mkdir(exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def _record(history, ipc=None):
    _histories.append(history)
    pids = sorted(p for ps in history.values() for p in ps)
    _write(PIDS / f"run-{os.getpid()}-{len(_histories)}.json", {"pids": pids, "ipc": ipc})


@pytest.fixture
def cluster(cluster):
    _record(cluster.supervisor.history, cluster.ipc_dir)
    return cluster


@pytest.fixture
def run_scenario(run_scenario):
    def run(*args, **kwargs):
        result = run_scenario(*args, **kwargs)
        _record(result.pid_history)
        return result

    return run


def pytest_unconfigure(config):
    pids = sorted({p for history in _histories for ps in history.values() for p in ps})
    if pids:
        state = {"pids": pids, "alive": [p for p in pids if _alive(p)]}
        _write(PIDS / f"end-{os.getpid()}.json", state)
"""


@pytest.fixture
def hermetic(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """Inner sessions load the testbed plugin (and xdist where asked) by entry point name, and
    nothing else that happens to be installed: quicker, and the same wherever the suite runs.
    Automatic loading is test_help_and_markers_show_the_plugin's to prove."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.plugins.append("testbed")  # the pytest11 entry point's name
    return pytester


@pytest.fixture
def inner(hermetic: pytest.Pytester) -> pytest.Pytester:
    hermetic.makeconftest(INNER_CONFTEST)
    return hermetic


def _recorded(pytester: pytest.Pytester) -> list[dict]:
    return [json.loads(p.read_text()) for p in (pytester.path / "pids").glob("run-*.json")]


def recorded_pids(pytester: pytest.Pytester) -> list[int]:
    return sorted({pid for run in _recorded(pytester) for pid in run["pids"]})


def assert_no_leftovers(
    pytester: pytest.Pytester, bound: float = 1.0, killed: int = 0
) -> list[int]:
    """Every host the inner sessions started is gone: at their own end (stopped by the fixture)
    and now (bounded wait, for hosts orphaned by a killed process). Every cluster's private
    ipc directory is gone too, but for the ``killed`` clusters whose orchestrator died: nobody
    is left to remove theirs (removed here, so that the suite leaves nothing in /tmp)."""
    pids = recorded_pids(pytester)
    assert pids, "the inner session recorded no host pid"
    for end in (pytester.path / "pids").glob("end-*.json"):
        state = json.loads(end.read_text())
        assert state["alive"] == [], f"still running when {end.name} was written: {state}"
    assert wait_gone(pids, bound) == [], "host processes outlived their inner session"
    left = [run["ipc"] for run in _recorded(pytester) if run["ipc"] and Path(run["ipc"]).exists()]
    for path in left:
        shutil.rmtree(path, ignore_errors=True)
    assert len(left) <= killed, f"ipc directories left behind: {left}"
    return pids


def outcomes(result: pytest.RunResult) -> dict[str, int]:
    return result.parseoutcomes() if result.outlines else {}


def test_plugin_loads_no_cluster_machinery() -> None:
    """Every pytest session of an environment with testbed installed loads the plugin: it must
    not pull in ZeroMQ, SQLite, the cluster or the hosts until a fixture asks for them."""
    heavy = ("zmq", "sqlite3", "hosts", "orchestrator.cluster.cluster", "orchestrator.run.runner")
    code = (
        "import sys, orchestrator.pytest_plugin; "
        f"print([m for m in sys.modules if m.startswith({heavy!r})])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# -- the cluster fixture, in this very session -----------------------------------------------
@pytest.mark.testbed(
    hosts=["h1", "h2", "h3"],
    devices=2,
    sets=["cluster.audit_interval=0", "timeouts.heartbeat_interval=0.02"],
)
def test_cluster_fixture_with_marker(cluster, tmp_path: Path) -> None:
    assert cluster.config.cluster.hosts == ["h1", "h2", "h3"]
    assert cluster.run_dir == tmp_path / "cluster"
    assert cluster.conductor.endpoint.startswith("ipc://")
    assert str(tmp_path) not in cluster.conductor.endpoint  # short private ipc directory
    assert cluster.api.host_states() == {"h1": "up", "h2": "up", "h3": "up"}
    assert cluster.api.free_devices() == {"h1": 2, "h2": 2, "h3": 2}
    cluster.api.create_server("vm1", "h3", 2)
    assert cluster.api.allocations() == {"h1": {}, "h2": {}, "h3": {"vm1": 2}}
    hosts = [p for h, p in cluster.pids().items() if h != "orchestrator"]
    assert len(set(hosts)) == 3 and all(p and alive(p) for p in hosts)


# -- configuration layers: ini < command line < marker ---------------------------------------
LAYER_TESTS = """
import pytest


def test_ini_then_command_line(testbed_config):
    c = testbed_config
    assert c.cluster.tracker == "buggy"                                   # ini
    assert c.timeouts.rpc == 4.0 and c.devices.per_host == 3              # ini's config file
    assert c.delays == {"host2:audit.instance_list": 0.25, "*:evacuate.spawn": 0.1}
    assert c.checks.stop_after == 2.0                                     # command line


@pytest.mark.testbed(
    tracker="fixed",
    devices=1,
    delays={"host2:audit.instance_list": 0},
    checks={"stop_after": 1},
    sets=["timeouts.rpc=5"],
)
def test_marker_wins(testbed_config):
    c = testbed_config
    assert c.cluster.tracker == "fixed" and c.devices.per_host == 1
    assert c.delays == {"host2:audit.instance_list": 0.0, "*:evacuate.spawn": 0.1}
    assert c.checks.stop_after == 1.0 and c.timeouts.rpc == 5.0


@pytest.mark.testbed(hosts=["a", "host2", "c"], devices=2)
class TestClassMarker:
    @pytest.mark.testbed(devices={"a": 4}, delays={"host2:audit.instance_list": 0})
    def test_function_marker_wins(self, testbed_config):
        c = testbed_config
        assert c.cluster.hosts == ["a", "host2", "c"]
        assert [c.devices.count(h) for h in ("a", "host2", "c")] == [4, 2, 2]
        assert c.delays["host2:audit.instance_list"] == 0.0


@pytest.mark.testbed(tracker="fixed", sets=["cluster.audit_interval=0"])
def test_cluster_is_configured_by_the_layers(cluster, tmp_path):
    assert cluster.config.cluster.tracker == "fixed"
    assert cluster.config.delays["host2:audit.instance_list"] == 0.25
    assert cluster.run_dir.parent == tmp_path
    assert cluster.api.host_states() == {"host1": "up", "host2": "up"}


def test_run_scenario_layers_the_scenario_first(run_scenario):
    result = run_scenario(
        "evacuate-race", delays={"host2:audit.instance_list": 0}, checks={"stop_after": 0.25}
    )
    # scenario [config] < ini (tracker buggy) < command line: the buggy tracker loses vm1
    assert result.tracker == "buggy" and result.outcome == "fail"
    assert result.allocations["host2"] == {}
"""


def test_configuration_layers(inner: pytest.Pytester) -> None:
    inner.makefile(".toml", tb="[timeouts]\nrpc = 4.0\n[devices]\nper_host = 3\n")
    inner.makeini(
        """
        [pytest]
        testbed_config = tb.toml
        testbed_tracker = buggy
        testbed_delays =
            host2:audit.instance_list=0.5
            *:evacuate.spawn=0.1
        testbed_check_timeout = 3
        """
    )
    inner.makepyfile(test_layers=LAYER_TESTS)
    result = inner.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--testbed-delay",
        "host2:audit.instance_list=0.25",
        "--testbed-check-timeout",
        "2",
        timeout=RUN_TIMEOUT,
    )
    assert outcomes(result) == {"passed": 5}, result.stdout.str()
    assert_no_leftovers(inner)


BAD_VALUE_TESTS = """
import pytest


@pytest.mark.testbed(timeouts={"rpc": -1})
def test_negative(cluster):
    pass


@pytest.mark.testbed(host=["x"])
def test_unknown_argument(cluster):
    pass


def test_bad_scenario_override(run_scenario):
    run_scenario("evacuate-race", hosts=["host2", "host3"])


def test_unknown_scenario(run_scenario):
    run_scenario("no-such-scenario")


def test_without_the_fixture():
    pass
"""


def test_bad_values_fail_the_test_with_one_line(hermetic: pytest.Pytester) -> None:
    pytester = hermetic
    pytester.makepyfile(test_bad=BAD_VALUE_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=RUN_TIMEOUT)
    assert outcomes(result) == {"passed": 1, "failed": 2, "errors": 2}, result.stdout.str()
    result.stdout.fnmatch_lines_random(
        [
            "testbed: @pytest.mark.testbed: 'timeouts.rpc' must not be negative, got -1.0",
            "testbed: @pytest.mark.testbed: unknown argument 'host' (known: hosts, *)",
            "testbed: scenario 'evacuate-race': step 1 (create_server): 'host': unknown host*",
            "testbed: unknown scenario 'no-such-scenario' (built-in: *evacuate-race*)",
        ]
    )
    text = result.stdout.str()
    assert "Traceback" not in text and "pytest.fail(" not in text and "def cluster" not in text

    bad_cli = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--testbed-delay", "host9:audit.start=1", timeout=RUN_TIMEOUT
    )
    assert outcomes(bad_cli) == {"passed": 1, "errors": 2, "failed": 2}
    bad_cli.stdout.fnmatch_lines(["testbed: *unknown host 'host9'*"])
    usage = pytester.runpytest_subprocess("--testbed-tracker", "nope", timeout=RUN_TIMEOUT)
    assert usage.ret == pytest.ExitCode.USAGE_ERROR
    usage.stderr.fnmatch_lines(["*--testbed-tracker: invalid choice: 'nope'*"])


# -- the report section of a failing test ----------------------------------------------------
REPORT_TESTS = """
import pytest

FAST = ["cluster.audit_interval=0", "timeouts.heartbeat_interval=0.02"]


@pytest.mark.testbed(devices=1, sets=FAST)
def test_cluster_fails(cluster):
    cluster.api.create_server("vm1", "host1", 1)
    assert False, "boom"


def test_scenario_fails(run_scenario):
    result = run_scenario("evacuate-race", tracker="buggy")
    assert result.ok


@pytest.mark.testbed(sets=FAST)
def test_cluster_passes(cluster):
    cluster.api.create_server("vm9", "host2", 1)
"""


def test_failing_test_reports_run_dir_timeline_and_log_tail(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_report=REPORT_TESTS)
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", "-rP", timeout=RUN_TIMEOUT)
    assert outcomes(result) == {"failed": 2, "passed": 1}, result.stdout.str()
    text = result.stdout.str()
    assert text.count("- testbed cluster -") == 1  # the passing test (-rP) has none
    assert "vm9" not in text
    assert text.count("- testbed scenario evacuate-race -") == 1
    result.stdout.re_match_lines(
        [
            r".*- testbed cluster -+$",
            r"run directory: .*/test_cluster_fails0/cluster$",
            r"tracker: fixed$",
            r"allocations \(last observed\):$",
            r"  host1: vm1=1$",
            r"  host2: nothing bound$",
            r"timeline: .*/cluster/timeline.html \(testbed show .*/cluster\)$",
            r"log tail \(last \d+ lines of .*/cluster/testbed.log\):$",
            r".* host1\[\d+\] INFO .*",
        ],
        consecutive=False,
    )
    result.stdout.re_match_lines(
        [
            r".*- testbed scenario evacuate-race -+$",
            r"run directory: .*/test_scenario_fails0/runs/testbed-evacuate-race-.*",
            r"scenario: evacuate-race, tracker buggy: fail$",
            r"failed at step 9: check expect=\['vm1:host2=1', 'vm1:host1=1'\]$",
            r"  host2: vm1 expected 1 device\(s\) bound, found 0$",
            r"allocations \(last observed\):$",
            r"  host1: vm1=1$",
            r"  host2: nothing bound$",
            r"timeline: .*/testbed-evacuate-race-.*/timeline.html \(testbed show .*\)$",
            r"log tail \(last \d+ lines of .*/testbed-evacuate-race-.*/testbed.log\):$",
            r".* host2\[\d+\] .*",
        ],
        consecutive=False,
    )
    assert_no_leftovers(inner)


# -- teardown always: interrupted, killed, crashed -------------------------------------------
INTERRUPTED_TEST = """
import pytest


@pytest.mark.testbed(timeouts={"orphan_after": 30})
def test_interrupted(cluster):
    cluster.api.create_server("vm1", "host1", 1)
    raise KeyboardInterrupt
"""


def test_interrupted_test_stops_its_hosts(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_interrupt=INTERRUPTED_TEST)
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", timeout=RUN_TIMEOUT)
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    # orphan_after is 30 s: only the fixture's teardown can have stopped them this soon, and
    # the inner process's own pytest_unconfigure saw them gone (see INNER_CONFTEST).
    assert list((inner.path / "pids").glob("end-*.json"))
    assert len(assert_no_leftovers(inner)) == 2


BLOCKING_TEST = f"""
import json
import time
from pathlib import Path

import pytest


@pytest.mark.testbed(
    hosts=["host1", "host2", "host3"],
    devices=1,
    delays={{"host2:evacuate.spawn": 30}},
    timeouts={{"orphan_after": {ORPHAN_AFTER}, "service_down_time": 0.15}},
    sets=["cluster.audit_interval=0.05", "timeouts.heartbeat_interval=0.02"],
)
def test_blocks_mid_evacuation(cluster):
    cluster.api.create_server("vm1", "host1", 1)
    cluster.kill("host1")
    cluster.api.wait_host("host1", "down")
    cluster.api.evacuate("vm1", "host2", until="claimed")  # host2 now sleeps in spawn
    live = {{h: cluster.supervisor.pid(h) for h in ("host2", "host3")}}
    out = Path("live.json")
    out.with_name("live.tmp").write_text(json.dumps({{"pids": live, "ipc": cluster.ipc_dir}}))
    out.with_name("live.tmp").replace(out)
    time.sleep(60)
"""


def _start_blocking_session(inner: pytest.Pytester) -> tuple[subprocess.Popen, dict]:
    inner.makepyfile(test_block=BLOCKING_TEST)
    args = ["-p", "testbed", "-p", "no:cacheprovider", "-q", "test_block.py"]
    out = inner.path / "inner.out"
    with out.open("w") as log:
        proc = inner.popen(
            [sys.executable, "-m", "pytest", f"--basetemp={inner.path / 'basetemp'}", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    live = inner.path / "live.json"
    deadline = time.monotonic() + 30
    while not live.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if not live.exists():
        proc.kill()
        proc.wait(10)
        pytest.fail(f"the inner test never got mid-evacuation:\n{out.read_text()}")
    return proc, json.loads(live.read_text())


def _orphaned(inner: pytest.Pytester, sig: signal.Signals) -> tuple[list[int], float]:
    """Send ``sig`` to an inner pytest process whose test is mid-evacuation; return the host
    pids that were running and how long they took to exit."""
    proc, live = _start_blocking_session(inner)
    pids = list(live["pids"].values())
    try:
        assert len(pids) == 2 and all(alive(p) for p in pids), f"hosts not running: {live}"
        assert all(p in recorded_pids(inner) for p in pids)
        os.kill(proc.pid, sig)
        killed = time.monotonic()
        left = wait_gone(pids, ORPHAN_AFTER + ORPHAN_SLACK)
        took = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        shutil.rmtree(live["ipc"], ignore_errors=True)  # a killed orchestrator cannot
    assert left == [], f"hosts {left} outlived their {sig.name}-ed orchestrator ({took:.2f} s)"
    return pids, took


def test_sigkill_mid_scenario_hosts_exit_by_themselves(inner: pytest.Pytester) -> None:
    pids, took = _orphaned(inner, signal.SIGKILL)
    print(f"hosts {pids} gone {took:.2f} s after SIGKILL of their orchestrator")


def test_frozen_orchestrator_hosts_exit_after_orphan_after(inner: pytest.Pytester) -> None:
    """SIGSTOP: the parent pid does not change, only the heartbeats go unanswered."""
    pids, took = _orphaned(inner, signal.SIGSTOP)
    assert took >= ORPHAN_AFTER / 2, "hosts exited long before orphan_after: not by heartbeats"
    print(f"hosts {pids} gone {took:.2f} s after SIGSTOP of their orchestrator")


XDIST_CRASH_TESTS = f"""
import os

import pytest


@pytest.mark.testbed(timeouts={{"orphan_after": {ORPHAN_AFTER}}})
def test_crashes_its_worker(cluster):
    cluster.api.create_server("vm1", "host1", 1)
    os._exit(3)


@pytest.mark.testbed(sets=["cluster.audit_interval=0"])
def test_runs_beside_it(cluster):
    cluster.api.create_server("vm1", "host2", 1)
    assert cluster.api.allocations() == {{"host1": {{}}, "host2": {{"vm1": 1}}}}
"""


@pytest.mark.long
def test_xdist_worker_crash_leaves_nothing_behind(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_crash=XDIST_CRASH_TESTS)
    result = inner.runpytest_subprocess(
        "-p", "xdist", "-p", "no:cacheprovider", "-n", "2", timeout=RUN_TIMEOUT
    )
    assert outcomes(result) == {"failed": 1, "passed": 1}, result.stdout.str()
    result.stdout.fnmatch_lines(["*worker 'gw*' crashed while running*test_crashes_its_worker*"])
    runs = list((inner.path / "pids").glob("run-*.json"))
    assert len(runs) == 2, "each test should have recorded its own cluster"
    pids = assert_no_leftovers(inner, ORPHAN_AFTER + ORPHAN_SLACK, killed=1)
    assert len(pids) == 4


def test_failing_scenario_keeps_its_run_dir_under_tmp_path(run_scenario, tmp_path: Path) -> None:
    result = run_scenario("evacuate-race", tracker="buggy")
    assert result.outcome == "fail" and result.kept
    run_dir = Path(result.run_dir)
    assert run_dir.parent == tmp_path / "runs"
    assert (run_dir / "state.sqlite").exists()
    assert re.search(r"host2\[\d+\]", (run_dir / "testbed.log").read_text())


# -- exploration spread over xdist workers ---------------------------------------------------
def _losing_orders(xml: Path) -> dict[str, str]:
    import xml.etree.ElementTree as ET

    out = {}
    for case in ET.parse(xml).iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        out[case.get("name")] = props["losing_orders"]
    return out


@pytest.mark.long
def test_exploration_as_items_finds_the_same_losing_orders_whatever_n(hermetic) -> None:
    hermetic.plugins.append("xdist.plugin")
    found = {}
    for n in ("0", "2"):
        xml = hermetic.path / f"n{n}.xml"
        result = hermetic.runpytest_subprocess(
            "-p",
            "xdist.plugin",
            "--testbed-explore",
            "unshelve-race",  # 2 schedules, 1 losing: the smallest race the catalogue has
            "-n",
            n,
            f"--junitxml={xml}",
            timeout=RUN_TIMEOUT,
        )
        assert outcomes(result) == {"passed": 2}, result.stdout.str()
        found[n] = _losing_orders(xml)
    assert found["0"] == found["2"]
    assert set(found["0"]) == {"explore[unshelve-race-buggy]", "explore[unshelve-race-fixed]"}
    assert (
        "unshelve.start < audit.instance_list < unshelve.active"
        in found["0"]["explore[unshelve-race-buggy]"]
    )
    assert found["0"]["explore[unshelve-race-fixed]"] == "[]"


# -- an inconclusive run fails the test unless the test asks for it --------------------------
INCONCLUSIVE_TESTS = """
SHORT = {"sets": ["timeouts.hold=0.02"], "delays": {"host2:evacuate.spawn": 1}}


def test_inconclusive_fails(run_scenario):
    run_scenario("evacuate-race", tracker="buggy", **SHORT)


def test_inconclusive_asked_for(run_scenario):
    result = run_scenario("evacuate-race", tracker="buggy", allow_inconclusive=True, **SHORT)
    assert result.outcome == "inconclusive" and result.inconclusive
"""


def test_an_inconclusive_run_fails_the_test_unless_asked_for(hermetic: pytest.Pytester) -> None:
    hermetic.makepyfile(test_inconclusive=INCONCLUSIVE_TESTS)
    result = hermetic.runpytest_subprocess("-p", "no:cacheprovider", timeout=RUN_TIMEOUT)
    assert outcomes(result) == {"failed": 1, "passed": 1}, result.stdout.str()
    text = result.stdout.str()
    assert "testbed: scenario evacuate-race (buggy) was inconclusive: " in text
    assert " held 0.02 s waiting for host2:" in text
    assert "Traceback" not in text
