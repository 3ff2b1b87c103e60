"""The pytest plugin (``pytest11`` entry point ``testbed``): options, ini keys, a marker, the
``testbed_config``, ``cluster`` and ``run_scenario`` fixtures, and a report section on failure.

Thin on purpose: configuration is ``testbed.config``'s (its options become layers as the
command line's flags do, ``orchestrator.cli.options``), clusters and scenarios are the
orchestrator's. Loading the plugin (every pytest session of an environment where testbed is
installed) must not start or import the cluster machinery: that happens inside the fixtures.
Nothing a fixture starts may outlive its test.

Configuration layers, later wins: defaults, (a scenario's ``[config]``,) the ini options, the
command line, ``@pytest.mark.testbed(...)`` (class, then function), then the arguments given
to ``run_scenario``. Every cluster lives in a directory under the test's ``tmp_path``; its ipc
endpoints are in a private directory of its own, so parallel tests and parallel sessions
never share a path or a port."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from orchestrator.cli.options import option_layers, parse_set
from orchestrator.run.render import allocations
from testbed.config import SECTIONS, Config, Layer, build
from testbed.errors import ConfigError, TestbedError
from testbed.fixes import PRESETS

if TYPE_CHECKING:
    from orchestrator.cluster.cluster import Cluster
    from orchestrator.run.runner import Result

MARKER_KEYS = ("hosts", "devices", "tracker", "fixes", "delays", "timeouts", "checks", "sets")
MARKER_HELP = (
    "testbed(hosts=[...], devices=N, tracker='buggy'|'fixed', fixes=['1896463', ...] (the fixes "
    "on; after tracker), delays={'HOST:POINT': s}, "
    "timeouts={...}, checks={...}, sets=['section.key=value'], or any configuration section "
    "as a table): configure the cluster and run_scenario fixtures of this test (wins over the "
    "command line and the ini file)"
)
LOG_TAIL = 30


# -- options, ini keys, marker --------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(
        "testbed", "testbed clusters (later wins: ini, command line, @pytest.mark.testbed)"
    )
    group.addoption(
        "--testbed-config",
        metavar="FILE",
        help="TOML configuration file for every cluster (ini: testbed_config)",
    )
    group.addoption(
        "--testbed-tracker",
        choices=tuple(PRESETS),
        help="every host's fixes: all on (fixed) or none (buggy) (ini: testbed_tracker)",
    )
    group.addoption(
        "--testbed-delay",
        action="append",
        default=[],
        metavar="HOST:POINT=S",
        help="delay a host at an injection point, repeatable; * = every host (ini: testbed_delays)",
    )
    group.addoption(
        "--testbed-check-timeout",
        metavar="SECONDS",
        help="give up retrying a check after this long: checks.stop_after "
        "(ini: testbed_check_timeout)",
    )
    group.addoption(
        "--testbed-explore",
        action="append",
        default=[],
        metavar="SCENARIO",
        help="explore a scenario (built-in name, file, or 'all') with both trackers, one "
        "test item each, so that -n spreads exploration over workers; repeatable",
    )
    group.addoption(
        "--testbed-explore-split",
        type=int,
        default=1,
        metavar="N",
        help="split each --testbed-explore exploration by schedule prefix into N items, so "
        "that -n spreads one scenario over workers",
    )
    parser.addini(
        "testbed_config", "testbed: TOML configuration file, relative to the ini file", default=""
    )
    parser.addini("testbed_tracker", "testbed: resource tracker, buggy or fixed", default="")
    parser.addini(
        "testbed_delays", "testbed: HOST:POINT=SECONDS delays, one a line", type="linelist"
    )
    parser.addini(
        "testbed_check_timeout",
        "testbed: seconds before a check gives up (checks.stop_after)",
        default="",
    )


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    wanted = config.getoption("testbed_explore")
    if wanted:
        from orchestrator.explore.pytest_items import add_items

        parts = config.getoption("testbed_explore_split")
        if parts < 1:
            raise pytest.UsageError(f"--testbed-explore-split must be at least 1, got {parts}")
        add_items(session, items, wanted, parts)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if hasattr(item, "last_here"):  # an exploration item: whether its worker runs it last
        item.last_here = nextitem is None


# -- configuration layers -------------------------------------------------------------------
def _marker_layer(kwargs: Mapping[str, Any], args: tuple[Any, ...], where: str) -> list[Layer]:
    """Marker keywords as layers: ``hosts``, ``tracker`` (cluster keys), ``devices`` (N per
    host, or {host: N}), ``sets`` (``section.key=value`` strings), and any configuration
    section as a table (``timeouts``, ``checks``, ``delays``, ``cluster``, ...)."""
    known = [*MARKER_KEYS, *(s for s in SECTIONS if s not in MARKER_KEYS)]
    if args:
        raise ConfigError(f"{where}: takes keyword arguments only ({', '.join(known)})")
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown argument '{unknown[0]}' (known: {', '.join(known)})")
    layers: list[Layer] = []
    # the tracker (all fixes or none) first, so that ``fixes`` given beside it wins
    for key, value in sorted(kwargs.items(), key=lambda kv: kv[0] == "fixes"):
        if key in ("hosts", "tracker", "fixes"):
            layers.append((f"{where} {key}", {"cluster": {key: value}}))
        elif key == "devices":
            table = {"hosts": value} if isinstance(value, Mapping) else {"per_host": value}
            layers.append((f"{where} devices", {"devices": table}))
        elif key == "sets":
            if isinstance(value, str) or not isinstance(value, list | tuple):
                raise ConfigError(f"{where}: 'sets' must be a list of 'section.key=value' strings")
            layers += [(f"{where} sets '{text}'", parse_set(text)) for text in value]
        else:
            layers.append((where, {key: value}))
    return layers


def config_layers(node: pytest.Item, **overrides: Any) -> list[Layer]:
    """Ini options, then the command line, then the test's markers (farthest first), then
    ``overrides`` (marker keywords), each named so that an error says where it came from."""
    cfg = node.config
    ini_file = cfg.getini("testbed_config")
    if ini_file and cfg.inipath is not None:
        ini_file = str(cfg.inipath.parent / ini_file)
    layers = option_layers(
        ini_file or None,
        delays=cfg.getini("testbed_delays"),
        tracker=cfg.getini("testbed_tracker") or None,
        check_timeout=cfg.getini("testbed_check_timeout") or None,
        where="ini ",
    )
    layers += option_layers(
        cfg.getoption("testbed_config"),
        delays=cfg.getoption("testbed_delay"),
        tracker=cfg.getoption("testbed_tracker"),
        check_timeout=cfg.getoption("testbed_check_timeout"),
        where="command line ",
    )
    for mark in reversed(list(node.iter_markers("testbed"))):
        layers += _marker_layer(mark.kwargs, mark.args, "@pytest.mark.testbed")
    if overrides:
        layers += _marker_layer(overrides, (), "run_scenario")
    return layers


def _fail(exc: Exception) -> NoReturn:
    """Fail the test with the error's one line: no traceback, no chained exception."""
    raise pytest.fail.Exception(f"testbed: {exc}", pytrace=False) from None


# -- what a failing test's report shows -----------------------------------------------------
@dataclass
class _Run:
    """One cluster or scenario run of a test, for the report section."""

    label: str
    run_dir: Path
    allocations: Callable[[], dict[str, dict[str, int]]]
    extra: list[str] = field(default_factory=list)


_RUNS = pytest.StashKey[list[_Run]]()


def _remember(node: pytest.Item, run: _Run) -> None:
    node.stash.setdefault(_RUNS, []).append(run)


def _section(run: _Run) -> str:
    lines = [f"run directory: {run.run_dir}", *run.extra, "allocations (last observed):"]
    try:
        observed = run.allocations()
    except Exception as exc:  # the test may have closed the cluster itself
        lines.append(f"  unavailable ({type(exc).__name__}: {exc}); see state.sqlite")
    else:
        lines += allocations(observed, "  ")
    page = run.run_dir / "timeline.html"
    if not page.exists() and (run.run_dir / "history.jsonl").exists():
        from orchestrator.history.timeline import write_page

        try:  # the history so far: a cluster may still be running when the report is made
            write_page(run.run_dir)
        except OSError as exc:
            lines.append(f"timeline: unavailable ({exc.strerror})")
    if page.exists():
        lines.append(f"timeline: {page} (testbed show {run.run_dir})")
    log = run.run_dir / "testbed.log"
    try:
        tail = log.read_text(errors="replace").splitlines()[-LOG_TAIL:]
    except OSError as exc:
        tail = [f"  unavailable ({exc.strerror})"]
    lines.append(f"log tail (last {len(tail)} lines of {log}):")
    lines += tail
    return "\n".join(lines)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when in ("setup", "call"):
        for run in item.stash.get(_RUNS, []):
            report.sections.append((f"testbed {run.label}", _section(run)))


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture
def testbed_config(request: pytest.FixtureRequest) -> Config:
    """The configuration of this test's cluster: defaults < ini < command line < marker."""
    try:
        return build(config_layers(request.node))
    except ConfigError as exc:
        _fail(exc)


@pytest.fixture
def cluster(
    request: pytest.FixtureRequest, testbed_config: Config, tmp_path: Path
) -> Iterator[Cluster]:
    """A started cluster in ``tmp_path / "cluster"``; always closed (every host stopped by
    pid), whether the test passes, fails or is interrupted."""
    from orchestrator.cluster.cluster import Cluster
    from orchestrator.history.recorder import for_run

    try:
        made = Cluster(testbed_config, tmp_path / "cluster", recorder=for_run)
    except ConfigError as exc:  # e.g. a cluster.host_entry that cannot be loaded
        _fail(exc)
    last: dict[str, dict[str, int]] = {}

    def allocations() -> dict[str, dict[str, int]]:
        if not made.closed:
            return made.api.allocations()
        if not last:
            raise RuntimeError("the cluster was closed before they could be read")
        return last

    _remember(
        request.node,
        _Run("cluster", made.run_dir, allocations, [f"tracker: {testbed_config.cluster.tracker}"]),
    )
    try:
        try:
            made.start()
        except TestbedError as exc:  # a host that did not start: one line, and the log tail
            _fail(exc)
        yield made
    finally:
        try:  # for a report made after teardown (a failed setup)
            last.update(made.api.allocations())
        except Exception:
            pass
        made.close()


@pytest.fixture
def run_scenario(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Result]:
    """``run_scenario(name_or_path, tracker=None, allow_inconclusive=False, **marker_keywords)
    -> Result``: run a built-in scenario or a scenario file on a fresh cluster, configured from
    the scenario's ``[config]``, then ini, command line, marker, then the keywords and
    ``tracker`` given. The run directory (kept) is under ``tmp_path / "runs"``.

    An inconclusive run (its race did not happen: a task failed unexpectedly, a hold timed
    out, a hold was never reached) fails the test with its reasons, unless the test asks
    for that outcome with ``allow_inconclusive=True``."""
    from orchestrator.run import runner
    from orchestrator.run.scenario import load_with_config

    def run(
        name_or_path: str | Path,
        tracker: str | None = None,
        allow_inconclusive: bool = False,
        **overrides: Any,
    ) -> Result:
        if tracker is not None:
            overrides["tracker"] = tracker
        try:
            layers = config_layers(request.node, **overrides)
            scenario, config = load_with_config(str(name_or_path), *layers)
        except ConfigError as exc:
            _fail(exc)
        try:
            result = runner.run(scenario, config, str(tmp_path / "runs"), keep=True)
        except ConfigError as exc:
            _fail(exc)
        extra = [f"scenario: {result.scenario}, tracker {result.tracker}: {result.outcome}"]
        extra += [f"  inconclusive: {line}" for line in result.inconclusive]
        if not result.ok:
            where = f" at {result.failed_step}" if result.failed_step else ""
            extra.append(f"failed{where}" + (f": {result.error}" if result.error else ""))
            if result.last_check is not None:
                extra += [f"  {line}" for line in result.last_check.diff() if line[:1] != " "]
        _remember(
            request.node,
            _Run(
                f"scenario {result.scenario}",
                Path(result.run_dir),
                lambda: result.allocations,
                extra,
            ),
        )
        if result.outcome == "inconclusive" and not allow_inconclusive:
            raise pytest.fail.Exception(
                f"testbed: scenario {result.scenario} ({result.tracker}) was inconclusive: "
                + "; ".join(result.inconclusive),
                pytrace=False,
            )
        return result

    return run
