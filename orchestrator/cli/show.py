"""``testbed show RUN_DIR``: a run's history as a timeline in the terminal, one column per host
task (time flows down), or as the page (``--html``).

A face: it reads ``history.jsonl`` through ``orchestrator.history.story`` and prints; it changes
nothing but the page it is asked to write.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Any

from testbed.errors import ConfigError

TIME_W = 9
MAX_LINES = 3  # a label wraps onto at most this many lines of its column


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "show",
        help="print a run's timeline (one column per host task), or write its page",
        description="Read RUN_DIR/history.jsonl and print the timeline: scenario steps as "
        "rules across, one column per host task, time flowing down, the lock's holder "
        "marked with a bar, and why clean_usage freed what it freed.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory holding history.jsonl")
    p.add_argument("--from", dest="start", type=float, metavar="T", help="from t=T seconds")
    p.add_argument("--to", dest="stop", type=float, metavar="T", help="up to t=T seconds")
    p.add_argument(
        "--host", dest="hosts", action="append", metavar="H", help="only H's tasks (repeatable)"
    )
    p.add_argument("--html", action="store_true", help="write RUN_DIR/timeline.html (and open it)")
    p.add_argument("--width", type=int, metavar="N", help="line width (default: the terminal's)")
    p.set_defaults(func=cmd_show)


def _story(args: argparse.Namespace) -> Any:
    from orchestrator.history import story

    path = Path(args.run_dir) / "history.jsonl"
    if not path.is_file():
        raise ConfigError(
            f"'{args.run_dir}' holds no history.jsonl (was it run with --no-history?)"
        )
    if args.start is not None and args.stop is not None and args.start > args.stop:
        raise ConfigError(f"--from {args.start:g} is after --to {args.stop:g}")
    s = story.load(Path(args.run_dir))
    unknown = [h for h in args.hosts or () if h not in s.host_order]
    if unknown:
        raise ConfigError(
            f"--host '{unknown[0]}': not a host of this run ({', '.join(s.host_order)})"
        )
    return s


def render(
    s: Any, start: float | None, stop: float | None, hosts: list[str] | None, width: int
) -> list[str]:
    lanes = s.ordered(hosts)
    col = max(14, (width - TIME_W) // max(1, len(lanes)))

    def inside(t: float) -> bool:
        return (start is None or t >= start) and (stop is None or t <= stop)

    def holds(lane: Any, t: float) -> bool:
        return any(a <= t and (b is None or t <= b) for a, b in lane.locks)

    def row(t: float | None, cells: list[list[str]], lane_bars: list[bool]) -> list[str]:
        height = max(1, *map(len, cells))
        out = []
        for i in range(height):
            stamp = f"{t:.4f}" if (t is not None and i == 0) else ""
            parts = [stamp.ljust(TIME_W)]
            for cell, bar in zip(cells, lane_bars, strict=True):
                text = cell[i] if i < len(cell) else ""
                parts.append(("┃ " if bar else "  ") + text.ljust(col - 3) + " ")
            out.append("".join(parts).rstrip())
        return out

    outcome = {True: "PASS", False: "FAIL", None: "unfinished"}[s.ok]
    lines = [f"run       {s.scenario or '(no scenario)'}, tracker {s.tracker}: {outcome}"]
    lines += [f"  {f}" for f in s.failure]
    for why in s.why:
        lines += textwrap.wrap(
            why.sentence, width - 10, initial_indent="why       ", subsequent_indent="          "
        )
        for e in why.events:
            lines.append(f"  {e.t:.4f}  {s.lanes[e.lane].title:<20} {e.label}")
    lines.append("")
    lines += row(
        None, [textwrap.wrap(lane.title, col - 3)[:2] for lane in lanes], [False] * len(lanes)
    )
    lines.append("─" * min(width, TIME_W + col * len(lanes)))
    steps = [st for st in s.steps if inside(st.start)]
    keys = [lane.key for lane in lanes]
    for e in s.events:
        if not inside(e.t) or e.lane not in keys:
            continue
        while steps and steps[0].start <= e.t:
            st = steps.pop(0)
            lines.append(f"── step {st.number}: {st.text} " + "─" * 8)
        cells = [
            textwrap.wrap(("» " if e.mark else "") + e.label, col - 3)[:MAX_LINES]
            if lane.key == e.lane
            else []
            for lane in lanes
        ]
        lines += row(e.t, cells, [holds(lane, e.t) for lane in lanes])
    for st in steps:
        lines.append(f"── step {st.number}: {st.text} " + "─" * 8)
    lines.append("")
    lines.append("┃ the task holds its host's resource lock;  » what went wrong")
    return lines


def cmd_show(args: argparse.Namespace) -> int:
    s = _story(args)
    if args.html:
        from orchestrator.history.timeline import write_page

        page = write_page(Path(args.run_dir))
        print(f"timeline  {page}")
        graphical = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        if graphical and sys.stdout.isatty():
            import webbrowser

            webbrowser.open(page.resolve().as_uri())
        return 0
    width = args.width or shutil.get_terminal_size((160, 40)).columns
    for line in render(s, args.start, args.stop, args.hosts, max(60, width)):
        print(line)
    return 0
