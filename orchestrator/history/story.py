"""Reads a run's ``history.jsonl`` into what a timeline shows: lanes (one per host task), each
event with a short label and its class (read, write, lock, point, ...), lock-held spans,
scenario steps, process lives, the failed check, and why ``clean_usage`` freed what it freed.

Everything is derived from the records; nothing here knows a scenario. Shared by the page
(``orchestrator.history.timeline``) and the terminal (``testbed show``); it writes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testbed import events
from testbed.events import ORCHESTRATOR, PERIODIC
from testbed.vocabulary import MIGRATION_FINISHED

_ENCODE = json.JSONEncoder(default=str).encode  # one encoder for every record's detail

SCENARIO_LANE = (ORCHESTRATOR, "")


def _lists(record: dict[str, Any]) -> str | None:
    """Which of an audit's two lists a request read: a system names it (``lists``); the
    model's requests say it by their operation."""
    call = record.get("call")
    if call == "instance.list_by_host":
        return "instances"
    if call == "migration.query" and record.get("args", {}).get("in_progress"):
        return "migrations"
    return record.get("lists")


@dataclass(eq=False)  # by identity: two events may carry equal fields
class StoryEvent:
    t: float
    lane: tuple[str, str]
    cls: str  # point | lock | read | write | free | death | start | held | task | check | step
    label: str
    record: dict[str, Any]
    mark: bool = False  # highlighted: the free that lost a device, the failed check, a death

    @property
    def detail(self) -> str:
        """The record, one key a line. Each value is encoded on its own: json's ``indent``
        bypasses its C encoder, and a failing run's page then takes milliseconds more."""
        rec = {k: v for k, v in self.record.items() if k != "seq"}
        lines = [f" {_ENCODE(k)}: {_ENCODE(v)}" for k, v in rec.items()]
        return "{\n" + ",\n".join(lines) + "\n}" if lines else "{}"


@dataclass(eq=False)
class Why:
    free: StoryEvent  # the clean_usage that freed a device
    sentence: str
    events: list[StoryEvent]  # the reads and writes the sentence names, in time order


@dataclass
class Lane:
    key: tuple[str, str]
    host: str
    op: str
    title: str
    events: list[StoryEvent] = field(default_factory=list)
    locks: list[tuple[float, float | None]] = field(default_factory=list)  # held (from, to)


@dataclass
class StepSpan:
    number: int
    text: str
    start: float
    end: float | None = None
    ok: bool = True
    error: str = ""


@dataclass
class Story:
    records: list[dict[str, Any]]
    lanes: dict[tuple[str, str], Lane]
    steps: list[StepSpan]
    events: list[StoryEvent]
    scenario: str = ""
    tracker: str = ""
    ok: bool | None = None
    failure: list[str] = field(default_factory=list)
    why: list[Why] = field(default_factory=list)  # one per clean_usage that freed something
    end: float = 0.0
    host_order: list[str] = field(default_factory=list)

    def hosts(self) -> list[str]:
        return list(dict.fromkeys(lane.host for lane in self.ordered()))

    def ordered(self, hosts: list[str] | None = None) -> list[Lane]:
        """The scenario's lane, then each host's (in the run's host order), each host's lanes
        in the order they began; only ``hosts`` when given."""
        order = {h: i for i, h in enumerate([ORCHESTRATOR, *self.host_order])}
        lanes = [lane for lane in self.lanes.values() if lane.events or lane.host == ORCHESTRATOR]
        lanes = [lane for lane in lanes if hosts is None or lane.host in (ORCHESTRATOR, *hosts)]
        return sorted(lanes, key=lambda lane: order.get(lane.host, len(order)))


def read(path: Path) -> list[dict[str, Any]]:
    """Every valid record, in time order (file order is arrival order); bad lines skipped."""
    with open(path, "rb") as fh:
        records = [r for r in map(events.decode, fh) if r is not None]
    return sorted(records, key=lambda r: (r["t"], r["pid"], r.get("seq", 0)))


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "set" if value else "{}"
    return "none" if value is None else str(value)


class _Builder:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.names: dict[str, str] = {}  # instance uuid -> name
        self.mig_uuid: dict[str, str] = {}  # migration id -> instance uuid
        self.task_host: dict[str, str] = {}  # task id -> host
        for r in records:
            for c in r.get("changes", []):
                d = c["diff"]
                if c["table"] == "instances" and "name" in d:
                    self.names[c["key"]] = d["name"][1]
                if c["table"] == "migrations" and "instance_uuid" in d:
                    self.mig_uuid[c["key"]] = d["instance_uuid"][1]
            if r["kind"] == "task.start":
                self.task_host[r["task"]] = r["target"]
        self.lanes: dict[tuple[str, str], Lane] = {}
        self.seen_ops: dict[tuple[str, str], int] = {}

    def name(self, uuid: str | None) -> str:
        return self.names.get(uuid or "", (uuid or "?")[:8])

    def lane(self, host: str, task: str, op: str) -> Lane:
        key = (host, task)
        if key not in self.lanes:
            if key == SCENARIO_LANE:
                title = "scenario & orchestrator"
            elif task == PERIODIC or task.startswith(f"{PERIODIC}-"):  # and the periodic audit
                title = f"{host} process & periodic"
            else:
                n = self.seen_ops[(host, op)] = self.seen_ops.get((host, op), 0) + 1
                title = f"{host} {op}" + (f" #{n}" if n > 1 else "")
            self.lanes[key] = Lane(key, host, op, title)
        return self.lanes[key]

    def change(self, c: dict[str, Any]) -> str:
        d, table, key = c["diff"], c["table"], c["key"]
        if table == "instances":
            who = c.get("name") or self.name(key)
            if "name" in d:
                return f"new server {who} on {d.get('host', [None, '?'])[1]}"
            return f"{who}: " + ", ".join(
                f"{k} {_short(b)} → {_short(a)}" for k, (b, a) in d.items()
            )
        if table == "pci_devices":
            addr = key.split("/", 1)[-1]
            st = d.get("status")
            owner = [self.name(u) if u else None for u in d.get("instance_uuid", [None, None])]
            move = f"{st[0] or 'new'} → {st[1]}" if st else "owner changed"
            who = owner[1] or owner[0]
            return f"device {addr}: {move}" + (f" ({who})" if who else "")
        if table == "migrations":
            who = self.name(self.mig_uuid.get(key))
            st = d.get("status", [None, None])
            return f"migration {key} ({who}): {st[0] or 'new'} → {st[1]}"
        return f"{table} {key}: " + ", ".join(f"{k} → {a}" for k, (_, a) in d.items())

    def request(self, r: dict[str, Any]) -> tuple[str, str]:
        call, rows, args = r["call"], r.get("read"), r.get("args", {})
        if r.get("error"):
            return "error", f"{call} refused: {r['error']}"
        if r.get("changes"):
            what = "; ".join(self.change(c) for c in r["changes"])
            # a system's own call (Nova's Instance.save) is named; the model's ops are not
            return "write", f"{call}: {what}" if call[:1].isupper() else what
        listed = ", ".join(row.get("name") or row["key"][:8] for row in rows or []) or "none"
        if call == "instance.list_by_host":
            return "read", f"read instances on {r['host']}: {listed}"
        if call == "migration.query":
            what = "in-progress migrations" if args.get("in_progress") else "migrations"
            return "read", f"read {what}: {listed}"
        if call == "instance.get" and rows:
            return "read", f"read {listed} (host {rows[0].get('host')})"
        if call == "migration.get" and rows:
            return "read", f"read migration {rows[0]['key']} ({listed}: {rows[0].get('status')})"
        if call == "pci.get":
            return "read", f"read its devices: {len(rows or [])}"
        if call in ("pci.save", "instance.save", "migration.save"):
            return "write-none", f"{call}: nothing changed"
        return "read", call

    def event(self, r: dict[str, Any]) -> StoryEvent | None:
        kind, host = r["kind"], r["host"]
        task = r.get("task", "")
        if kind in (
            "run.start",
            "run.end",
            "scenario",
            "outcome",
            "heartbeats",
            "step.start",
            "step.end",
        ):
            return None
        if host == ORCHESTRATOR and kind in ("task.start", "task.done"):
            host = r.get("target") or self.task_host.get(task, host)
        if host == ORCHESTRATOR:
            lane = self.lane(*SCENARIO_LANE, "")
        else:
            lane = self.lane(host, task or PERIODIC, r.get("op") or PERIODIC)
        cls, label, mark = kind, kind, False
        if kind == "point":
            cls, label = "point", r["point"]
        elif kind.startswith("lock."):
            cls = "lock"
            label = {
                "lock.request": "asks for the lock",
                "lock.wait": "waits for the lock",
                "lock.acquired": "holds the lock",
                "lock.released": "lets the lock go",
            }[kind]
        elif kind in ("request", "write"):
            if kind == "write":
                cls, label = "write", "; ".join(self.change(c) for c in r["changes"])
            else:
                cls, label = self.request(r)
        elif kind == "clean_usage":
            freed = r.get("freed", [])
            if freed:
                devs = ", ".join(d["address"] for d in r.get("devices", []))
                who = ", ".join(self.name(u) for u in freed)
                cls, label, mark = "free", f"clean_usage FREES {devs} of {who}", True
            else:
                cls, label = "point", "clean_usage: frees nothing"
        elif kind == "fault":
            cls, label, mark = "death", f"fault: kills itself at {r['point']}", True
        elif kind == "process.start":
            again = r.get("incarnation", 1) > 1
            cls, label = "start", f"{'restarted' if again else 'started'} as pid {r['pid']}"
        elif kind == "process.exit":
            sig = r.get("signal")
            how = f"killed by {sig}" if sig else f"exited ({r.get('code')})"
            cls, label, mark = ("death" if sig else "exit"), f"pid {r['pid']} {how}", bool(sig)
        elif kind == "held":
            cls, label = "held", f"held at {r['at']}"
        elif kind == "task.start":
            cls, label = "task", f"{r.get('op')} command received"
        elif kind == "task.done":
            ok = r.get("ok")
            cls, label = "task", "task done" if ok else f"task failed: {r.get('error', '')}"
        elif kind == "check":
            ok = r.get("ok")
            cls, mark = "check", not ok
            label = (
                "check holds"
                if ok
                else "CHECK FAILS: "
                + "; ".join(
                    f"{x['server']} on {x['host']}: {x['actual']} of {x['expected']}"
                    for x in r.get("rows", [])
                    if not x["ok"]
                )
            )
        elif kind == "invariants":
            ok = r.get("ok")
            cls, mark = "check", not ok
            label = (
                "invariants hold"
                if ok
                else "INVARIANTS VIOLATED: " + "; ".join(r.get("violations", []))
            )
        elif kind == "lost":
            cls, label = "error", f"{r.get('count')} record(s) lost (pipe full)"
        event = StoryEvent(r["t"], lane.key, cls, label, r, mark)
        lane.events.append(event)
        return event

    def _holds(self, lane: tuple[str, str], t: float) -> bool:
        return any(a <= t and (b is None or t <= b) for a, b in self.lanes[lane].locks)

    def why(self, free: StoryEvent, all_events: list[StoryEvent]) -> Why:
        """From the records: which lists the freed server was missing from, read when, and the
        writes that fell between them (the race, when there is one)."""
        r = free.record
        mine = [e for e in all_events if e.lane == free.lane and e.t <= free.t]
        inst = [e for e in mine if _lists(e.record) == "instances"][-1:]
        migs = [e for e in mine if _lists(e.record) == "migrations"][-1:]
        parts, keys = [], [*inst, *migs, free]
        for uuid in r.get("freed", []):
            who = self.name(uuid)
            ti = f"read at t={inst[0].t:.4f} s" if inst else "not read"
            tm = f"read at t={migs[0].t:.4f} s" if migs else "not read"
            devs = [d["address"] for d in r.get("devices", []) if d["instance"] == uuid]
            parts.append(
                f"{who} was in neither the instance list ({ti}) nor the migration list ({tm}), "
                f"so clean_usage freed its device{'s' if len(devs) > 1 else ''} "
                f"{', '.join(devs)} on {r['host']}."
            )
            between = []
            for e in all_events:
                for c in e.record.get("changes", []) if e.cls == "write" else ():
                    d, lane = c["diff"], self.lanes[e.lane].title
                    moved = c["table"] == "instances" and c["key"] == uuid and "host" in d
                    if moved and inst and d["host"][1] == r["host"] and e.t > inst[0].t:
                        keys.append(e)
                        between.append(
                            f"{lane} set {who}'s host to {r['host']} at t={e.t:.4f} s, after "
                            "the instance list was read"
                        )
                    done = d.get("status", [None, None])[1]
                    mine_mig = c["table"] == "migrations" and self.mig_uuid.get(c["key"]) == uuid
                    if mine_mig and done in MIGRATION_FINISHED and migs and e.t < migs[0].t:
                        keys.append(e)
                        between.append(
                            f"{lane} marked its migration {done} at t={e.t:.4f} s, before the "
                            "migration list was read"
                        )
            if between:
                parts.append("Meanwhile " + ", and ".join(between) + ".")
            held = [
                (a, b)
                for a, b in self.lanes[free.lane].locks
                if inst and a <= inst[0].t and (b is None or b >= free.t)
            ]
            outside = [e for e in keys if e.cls == "write" and not self._holds(e.lane, e.t)]
            if held and outside:
                a, b = held[0]
                until = f"t={b:.4f} s" if b is not None else "the end"
                parts.append(
                    f"Those writes took no lock: {self.lanes[free.lane].title} held its host's "
                    f"resource lock from t={a:.4f} s to {until}, around both reads."
                )
        return Why(free, " ".join(parts), sorted(set(keys), key=lambda e: e.t))


def build(records: list[dict[str, Any]]) -> Story:
    b = _Builder(records)
    story = Story(records, b.lanes, [], [])
    b.lane(*SCENARIO_LANE, "")
    open_steps: dict[int, StepSpan] = {}
    for r in records:
        kind = r["kind"]
        story.end = max(story.end, r["t"])
        if kind == "run.start":
            story.tracker = r.get("tracker", "")
            story.host_order = list(r.get("hosts", []))
        elif kind == "scenario":
            story.scenario = r.get("name", "")
        elif kind == "outcome":
            story.ok = r.get("ok")
            if r.get("error"):
                story.failure.append(r["error"])
        elif kind == "step.start":
            args = " ".join(f"{k}={v}" for k, v in r.get("args", {}).items())
            open_steps[r["step"]] = StepSpan(r["step"], f"{r['do']} {args}".strip(), r["t"])
            story.steps.append(open_steps[r["step"]])
        elif kind == "step.end" and r.get("step") in open_steps:
            s = open_steps.pop(r["step"])
            s.end, s.ok, s.error = r["t"], r.get("ok", True), r.get("error", "")
        event = b.event(r)
        if event is not None:
            story.events.append(event)
            if kind == "check" and not r.get("ok"):
                story.failure += [
                    f"{x['host']}: {x['server']} expected {x['expected']} device(s) bound, "
                    f"found {x['actual']}"
                    for x in r.get("rows", [])
                    if not x["ok"]
                ]
    for lane in b.lanes.values():  # lock-held spans, from acquired to released
        since = None
        for e in lane.events:
            if e.record["kind"] == "lock.acquired":
                since = e.t
            elif e.record["kind"] == "lock.released" and since is not None:
                lane.locks.append((since, e.t))
                since = None
        if since is not None:
            lane.locks.append((since, None))  # held until the process died, or the end
    story.why = [b.why(e, story.events) for e in story.events if e.cls == "free"]
    return story


def load(run_dir: Path) -> Story:
    return build(read(Path(run_dir) / "history.jsonl"))
