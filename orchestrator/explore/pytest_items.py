"""Exploration as pytest items, so pytest-xdist spreads it over workers (and machines):
``pytest --testbed-explore evacuate-race -n auto`` adds one item per scenario and tracker
(``--testbed-explore all``: every built-in scenario). ``--testbed-explore-split N`` splits each
exploration by schedule prefix into N items (``orchestrator.explore.split``), so one big
scenario spreads over workers too; their losing orders, together, are the whole exploration's.

An item explores with dynamic partial-order reduction and passes when what it finds matches
the scenario's declared outcome for that tracker: a scenario expected to fail must lose in at
least one schedule, any other must lose in none. Its losing orders are recorded as the item's
``losing_orders`` property (and in the report), so runs with any ``-n`` can be compared. This
module only collects and runs items; exploring is ``orchestrator.explore.explorer``'s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from testbed.fixes import PRESETS

if TYPE_CHECKING:
    from orchestrator.explore.exchange import Exchange


def scenario_names(wanted: list[str]) -> list[str]:
    from orchestrator.run import scenario as sc

    names: list[str] = []
    for w in wanted:
        for name in sc.builtin_names() if w == "all" else [w]:
            if name not in names:
                names.append(name)
    return names


class ExploreItem(pytest.Item):
    def __init__(
        self, *, scenario: str, tracker: str, part: int = 0, parts: int = 1, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.scenario, self.tracker, self.part, self.parts = scenario, tracker, part, parts
        self.last_here = False  # nothing runs after it in this process (the plugin says)

    def runtest(self) -> None:
        from orchestrator.explore import cores, explorer
        from orchestrator.explore.split import Split
        from orchestrator.explore.strategies.dpor import Dpor
        from orchestrator.run.scenario import load_with_config

        layer = ("tracker", {"cluster": {"tracker": self.tracker}})
        scenario, config = load_with_config(self.scenario, layer)
        out = Path(self.config._tmp_path_factory.mktemp("explore"))  # noqa: SLF001
        exchange = _exchange(self) if self.parts > 1 else None
        strategy = Split(self.part, self.parts, exchange) if self.parts > 1 else Dpor()
        try:
            with cores.kept_to(_worker_cores(self.config)):
                summary = explorer.explore(
                    scenario, config, strategy, None, out / "replays", str(out)
                )
        finally:
            if exchange is not None:
                exchange.close()
                self.user_properties.append(("handed_over", exchange.given))
                self.user_properties.append(("taken", exchange.taken))
        d = summary.to_dict()
        self.user_properties.append(("losing_orders", json.dumps(d["losing_orders"])))
        self.user_properties.append(("schedules", d["schedules"]))
        self.user_properties.append(
            ("final_states", json.dumps(sorted({s.final_state for s in summary.schedules})))
        )
        self.add_report_section("call", "exploration", json.dumps(d, indent=2))
        if summary.error:
            raise ExploreFailure(f"{self.name}: {summary.error}")
        expected_loss = scenario.expected(config.cluster.fixes) == "fail"
        # one part of a split exploration may hold no loss of a losing scenario; none may
        # lose where the scenario must not
        if bool(summary.losing) != expected_loss and (self.parts == 1 or not expected_loss):
            orders = "\n".join(f"  {s.line}\n    replay: {s.replay}" for s in summary.losing)
            raise ExploreFailure(
                f"{self.name}: {d['losing']} losing schedule(s) of {d['schedules']}, "
                f"expected {'some' if expected_loss else 'none'}\n{orders}"
            )

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        if isinstance(excinfo.value, ExploreFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Any, int, str]:
        return self.path, 0, f"explore {self.scenario} ({self.tracker})"


def _exchange(item: ExploreItem) -> Exchange | None:
    """Where the parts of this item's exploration on this machine hand branches over: beside
    the pytest-xdist workers' own temporary directories (one session's, on one machine), or
    None outside xdist (there the parts run one after the other)."""
    from orchestrator.explore.exchange import Exchange

    if getattr(item.config, "workerinput", None) is None:
        return None
    base = Path(item.config._tmp_path_factory.getbasetemp()).parent  # noqa: SLF001
    name = f"{Path(item.scenario).stem}-{item.tracker}-of{item.parts}"
    return Exchange(base / "testbed-split" / name, item.part, patient=item.last_here)


def _worker_cores(config: pytest.Config) -> set[int]:
    """This pytest-xdist worker's share of the cores (``orchestrator.explore.cores``): the
    explorations of workers side by side each keep to their own; every core without xdist.
    A worker is known by what xdist hands it (``workerinput``), not by its environment, which
    a pytest session started from inside a worker inherits."""
    from orchestrator.explore import cores

    given = getattr(config, "workerinput", None) or {}
    worker, count = str(given.get("workerid", "")), given.get("workercount")
    if not (worker.startswith("gw") and worker[2:].isdigit() and isinstance(count, int)):
        return cores.available()
    return cores.share(int(worker[2:]), count)


class ExploreFailure(Exception):
    """What an exploration found did not match the scenario's declared outcome."""


def add_items(
    session: pytest.Session, items: list[pytest.Item], wanted: list[str], parts: int = 1
) -> None:
    # part by part: pytest-xdist hands a worker consecutive items at first, and two parts of
    # one exploration handed to the same worker would run one after the other. Within a part,
    # the tracker with the most fixes on first: a fix orders what raced (a lock, a check), so
    # its tree is the smaller one (evacuate-then-rebuild: 9 schedules fixed, 30 buggy), and the
    # parts that run last, whose workers have nothing else to run, even out the end by handing
    # branches over (``orchestrator.explore.exchange``): they need the bigger tree to do it
    trackers = sorted(PRESETS, key=lambda t: -len(PRESETS[t]))
    for part in range(parts):
        for name in scenario_names(wanted):
            for tracker in trackers:
                tail = f"-{part + 1}of{parts}" if parts > 1 else ""
                items.append(
                    ExploreItem.from_parent(
                        session,
                        name=f"explore[{Path(name).stem}-{tracker}{tail}]",
                        scenario=name,
                        tracker=tracker,
                        part=part,
                        parts=parts,
                    )
                )
