"""The history of a run (``history.jsonl``), its page (``timeline.html``) and ``testbed show``,
read the way a person (or a program) would read them: real runs, real processes."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from html.parser import HTMLParser
from pathlib import Path

from helpers import run_cli

from orchestrator.history import story
from orchestrator.history.recorder import History
from testbed import events

DEVICE = "0000:81:00.0"


def records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "history.jsonl").read_text().splitlines()
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(events.decode(line) is not None for line in lines)
    return parsed


def gapless(recs: list[dict], pid: int, orchestrator: bool = False) -> bool:
    """Every record one process sent arrived: its own counter has no hole. The orchestrator
    also sends the records it writes about hosts (``via``)."""
    if orchestrator:
        sent = [r for r in recs if r["pid"] == pid or "via" in r]
    else:
        sent = [r for r in recs if r["pid"] == pid and "via" not in r]
    seqs = sorted(r["seq"] for r in sent)
    return bool(seqs) and seqs == list(range(len(seqs)))


class Page(HTMLParser):
    """What a reader of the page sees: lane headings, highlighted events, text."""

    def __init__(self) -> None:
        super().__init__()
        self.lanes: list[str] = []
        self.marked: list[str] = []
        self.text: list[str] = []
        self._in: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "th" and "data-lane" in a:
            self.lanes.append(a["data-lane"])
        classes = (a.get("class") or "").split()
        self._in.append("mark" if tag == "span" and "mark" in classes else None)

    def handle_endtag(self, tag: str) -> None:
        if self._in:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in and self._in[-1] == "mark":
            self.marked.append(data)


def test_buggy_run_keeps_a_complete_history_and_a_page(tmp_path: Path) -> None:
    # beats often enough that even a run this short has some from every host to summarise
    beat = ("--set", "timeouts.heartbeat_interval=0.005")
    proc = run_cli("run", "--tracker", "buggy", "--run-dir", str(tmp_path), "--json", *beat)
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    run_dir = Path(out["run_dir"])
    recs = records(run_dir)

    # every process is there, each complete, and time-ordered once sorted
    pids = {out["pids"]["orchestrator"], *(p for ps in out["pid_history"].values() for p in ps)}
    assert pids <= {r["pid"] for r in recs}
    for pid in pids:
        assert gapless(recs, pid, pid == out["pids"]["orchestrator"]), pid
    ts = [r["t"] for r in story.read(run_dir / "history.jsonl")]
    assert ts == sorted(ts) and ts[0] >= 0

    kinds = {r["kind"] for r in recs}
    for kind in (
        "run.start",
        "process.start",
        "process.exit",
        "step.start",
        "step.end",
        "point",
        "lock.acquired",
        "lock.released",
        "request",
        "clean_usage",
        "check",
        "heartbeats",
        "run.end",
    ):
        assert kind in kinds, kind
    host1 = out["pid_history"]["host1"][0]
    assert any(
        r["kind"] == "process.exit" and r["pid"] == host1 and r["signal"] == "SIGKILL" for r in recs
    )
    beats = [r for r in recs if r["kind"] == "heartbeats"]
    assert beats and all(r["count"] >= 1 for r in beats)

    # the race's writes, before -> after, each from its task
    vm1 = next(
        c["key"]
        for r in recs
        for c in r.get("changes", [])
        if c["table"] == "instances" and c.get("name") == "vm1"
    )
    diffs = [(r, c["diff"]) for r in recs for c in r.get("changes", [])]
    assert any(
        r["host"] == "host2" and r["op"] == "evacuate" and d.get("host") == ["host1", "host2"]
        for r, d in diffs
    )
    assert any(
        r.get("op") == "audit" and d.get("status") == ["claimed", "available"] for r, d in diffs
    )
    freed = [r for r in recs if r["kind"] == "clean_usage" and r["freed"]]
    assert len(freed) == 1 and freed[0]["freed"] == [vm1] and freed[0]["host"] == "host2"
    assert freed[0]["devices"][0]["address"] == DEVICE
    assert freed[0]["names"] == {vm1: "vm1"}

    # the page: self-contained, every lane, the free and the failed check highlighted
    page_path = Path(out["timeline"])
    assert page_path == run_dir / "timeline.html"
    text = page_path.read_text()
    assert "http://" not in text and "https://" not in text
    page = Page()
    page.feed(text)
    lanes = [lane.title for lane in story.load(run_dir).ordered()]
    assert page.lanes == lanes
    assert {"host2 audit", "host2 evacuate", "host1 build"} <= set(page.lanes)
    assert any("clean_usage FREES" in m and DEVICE in m for m in page.marked)
    assert any(m.startswith("CHECK FAILS") for m in page.marked)
    assert any("pid" in m and "SIGKILL" in m for m in page.marked)
    words = " ".join(page.text)
    assert "vm1 was in neither the instance list (read at t=" in words
    assert "nor the migration list (read at t=" in words


def test_show_prints_a_column_per_task(tmp_path: Path) -> None:
    proc = run_cli("run", "--tracker", "buggy", "--run-dir", str(tmp_path), "--json")
    run_dir = json.loads(proc.stdout)["run_dir"]
    shown = run_cli("show", run_dir, "--width", "200")
    assert shown.returncode == 0, shown.stderr
    lanes = ("host2 audit", "host2 evacuate", "host1 build")
    assert any(all(lane in line for lane in lanes) for line in shown.stdout.splitlines())
    assert "clean_usage FREES" in shown.stdout and "why       vm1 was in neither" in shown.stdout

    only = run_cli("show", run_dir, "--host", "host2", "--from", "0", "--to", "1000")
    assert only.returncode == 0 and "host1 build" not in only.stdout
    bad = run_cli("show", run_dir, "--host", "host9")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "host9" in bad.stderr
    missing = run_cli("show", str(tmp_path / "nothing"))
    assert missing.returncode == 2 and "history.jsonl" in missing.stderr

    html = run_cli("show", run_dir, "--html")
    assert html.returncode == 0 and html.stdout.strip().endswith("timeline.html")


def test_no_history_records_nothing_and_timeline_asks_for_a_page(tmp_path: Path) -> None:
    off = run_cli("run", "--tracker", "buggy", "--no-history", "--run-dir", str(tmp_path / "a"))
    assert off.returncode == 1
    (run_dir,) = (tmp_path / "a").iterdir()
    assert not (run_dir / "history.jsonl").exists() and not (run_dir / "timeline.html").exists()
    assert "timeline" not in off.stdout

    on = run_cli("run", "--timeline", "--run-dir", str(tmp_path / "b"))
    assert on.returncode == 0
    line = next(x for x in on.stdout.splitlines() if x.startswith("timeline"))
    assert Path(line.split()[1]).is_file()


def test_a_host_killed_mid_run_leaves_valid_json_lines(make_cluster) -> None:
    c = make_cluster("faults.host2:build.spawn=kill")
    c.api.create_server("vm1", "host1")
    pid = c.supervisor.pid("host2")
    try:
        c.api.create_server("vm2", "host2")
    except Exception:  # the build is lost with its host
        pass
    c.close()
    recs = records(c.run_dir)
    mine = [r for r in recs if r["pid"] == pid]
    assert gapless(recs, pid)
    assert [r["point"] for r in mine if r["kind"] == "fault"] == ["build.spawn"]
    assert any(r["kind"] == "point" and r["point"] == "build.spawn" for r in mine)
    assert any(r["kind"] == "process.exit" and r.get("signal") == "SIGKILL" for r in mine)


def _writer(fd: int) -> None:
    os.write(fd, b'not json\n{"kind": "point"}\n')  # garbage, then a record without t
    os.write(
        fd,
        events.encode(
            {
                "t": 1.0,
                "kind": "point",
                "host": "liar",
                "pid": 1,
                "task": "x",
                "seq": 0,
                "point": "audit.start",
            }
        ),
    )
    os.kill(os.getpid(), signal.SIGKILL)


def test_malformed_host_lines_are_dropped_and_counted(tmp_path: Path) -> None:
    history = History(tmp_path / "h.jsonl", hosts=["h1"])
    fd = history.pipe("h1")
    proc = multiprocessing.get_context("fork").Process(target=_writer, args=(fd,))
    proc.start()
    history.started("h1", proc, 1)
    proc.join(5)
    history.close()
    recs = [json.loads(x) for x in (tmp_path / "h.jsonl").read_text().splitlines()]
    point = [r for r in recs if r["kind"] == "point"]
    assert len(point) == 1 and point[0]["host"] == "h1" and point[0]["pid"] == proc.pid
    assert recs[-1]["kind"] == "run.end" and recs[-1]["dropped"] == 2
    assert any(r["kind"] == "process.exit" and r["signal"] == "SIGKILL" for r in recs)
