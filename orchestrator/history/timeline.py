"""``timeline.html``: one self-contained page (inline CSS, SVG and JS; nothing fetched) that
shows a run's history so the race can be seen: a column per host task, time flowing down,
lock-held spans shaded, every state read and write on its task's column, scenario steps along
the top and as rules across, host deaths and restarts, the failed check and the device
``clean_usage`` freed, with the sentence saying why. Hovering an event shows its record.

It renders what ``orchestrator.history.story`` derives from ``history.jsonl``; it never reads
the state or talks to a process.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from orchestrator.history import story as st
from testbed.events import ORCHESTRATOR

PAGE = "timeline.html"
CSS = """
:root{--read:#1f6feb;--write:#bf5b04;--lock:#f7d774;--free:#d1242f;--ok:#1a7f37;--mute:#6e7781}
*{box-sizing:border-box}
body{font:13px/1.35 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;
background:#fff}
header{padding:12px 16px 8px;border-bottom:1px solid #d0d7de;background:#f6f8fa}
h1{font-size:18px;margin:0 0 6px}
.fail{color:var(--free)}.pass{color:var(--ok)}
.verdict{margin:6px 0;padding:8px 10px;border-left:4px solid var(--free);background:#ffebe9;
max-width:1100px}
.verdict.passed{border-color:var(--ok);background:#dafbe1}
.verdict p{margin:2px 0}
.why{font-size:14px}
.steps{display:flex;flex-wrap:wrap;gap:4px;margin:8px 0 4px}
.steps a{padding:2px 7px;border-radius:10px;background:#fff;border:1px solid #d0d7de;
color:#1f2328;text-decoration:none;font-size:12px;white-space:nowrap}
.steps a.bad{border-color:var(--free);background:#ffebe9;color:var(--free);font-weight:600}
.legend{display:flex;flex-wrap:wrap;gap:14px;font-size:12px;color:#424a53;margin-top:6px}
.legend span{display:inline-flex;align-items:center;gap:4px}
.sw{display:inline-block;width:12px;height:12px;border-radius:2px}
.controls{font-size:12px;margin-top:6px;color:#424a53}
.controls label{margin-right:10px}
svg.overview{display:block;width:100%;margin:6px 0 0;background:#fff;border:1px solid #d0d7de}
svg text{font:10px system-ui,sans-serif;fill:#424a53}
table{border-collapse:collapse;margin:0 16px 40px}
th,td{border-right:1px solid #eaeef2;padding:1px 6px;vertical-align:top;min-width:150px;
max-width:250px;overflow-wrap:anywhere}
td.t,th.t{min-width:70px;max-width:70px;white-space:nowrap;color:var(--mute);font-variant-numeric:tabular-nums;
text-align:right}
thead th{position:sticky;top:0;background:#f6f8fa;border-bottom:2px solid #d0d7de;
text-align:left;font-size:12px;z-index:2}
thead tr.hosts th{top:0;font-size:13px;height:24px;white-space:nowrap;overflow:hidden;
text-overflow:ellipsis;border-bottom:1px solid #d0d7de}
thead tr.lanes th{top:24px}
th small{font-weight:400;color:var(--mute);margin-left:6px}
td.lock{background:var(--lock)}
td.dead{background:repeating-linear-gradient(45deg,#fff,#fff 4px,#eaeef2 4px,#eaeef2 8px)}
tr.step td{background:#ddf4ff;font-weight:600;border-top:1px solid #54aeff;padding:3px 6px;
position:relative}
tr.step.bad td{background:#ffebe9;border-top-color:var(--free);color:var(--free)}
tr.fold td{color:var(--mute);font-style:italic;cursor:pointer}
tr.hidden{display:none}
.ev{display:inline-block;padding:0 4px;border-radius:3px;cursor:default}
.ev.point{color:var(--mute);font-size:12px}
.ev.point::before{content:"· "}
.ev.read{color:var(--read)}.ev.read::before{content:"◇ "}
.ev.write{color:var(--write);font-weight:600}.ev.write::before{content:"◆ "}
.ev.write-none{color:var(--mute)}
.ev.lock{color:#7d4e00;font-style:italic}
.ev.held{color:#8250df}.ev.held::before{content:"‖ "}
.ev.task{color:#424a53;font-weight:600}
.ev.start{color:var(--ok);font-weight:600}.ev.start::before{content:"▶ "}
.ev.exit{color:var(--mute)}
.ev.death{color:#fff;background:#24292f;font-weight:600}.ev.death::before{content:"✖ "}
.ev.free{color:#fff;background:var(--free);font-weight:700}
.ev.free::before{content:"! "}
.ev.check{color:var(--ok);font-weight:600}
.ev.check.mark{color:#fff;background:var(--free)}
.ev.error{color:var(--free)}
tr.mark td{border-top:2px solid var(--free);border-bottom:2px solid var(--free)}
tr.key td.t{background:#ffebe9;color:var(--free);font-weight:700}
table.brief{margin:4px 0 2px;border:0}
table.brief td{border:0;min-width:0;max-width:none;padding:0 10px 0 0;font-size:12px;cursor:pointer}
tr.target td{outline:2px solid #8250df}
#tip{position:fixed;display:none;pointer-events:none;max-width:560px;max-height:70vh;overflow:hidden;
background:#24292f;color:#f6f8fa;padding:8px 10px;border-radius:6px;font:11px/1.35 ui-monospace,
monospace;white-space:pre-wrap;z-index:10;box-shadow:0 4px 16px #0005}
#tip b{font:600 12px system-ui,sans-serif;display:block;margin-bottom:4px}
"""
JS = """
const data = JSON.parse(document.getElementById('records').textContent);
const tip = document.getElementById('tip');
function place(e) {
  const w = tip.offsetWidth, h = tip.offsetHeight;
  tip.style.left = Math.max(4, Math.min(e.clientX + 14, innerWidth - w - 8)) + 'px';
  tip.style.top = Math.max(4, Math.min(e.clientY + 14, innerHeight - h - 8)) + 'px';
}
document.querySelectorAll('[data-i]').forEach(el => {
  el.addEventListener('mouseenter', e => {
    const d = data[+el.dataset.i];
    tip.innerHTML = '';
    const head = document.createElement('b');
    head.textContent = d.label;
    const body = document.createElement('div');
    body.textContent = d.detail;
    tip.append(head, body);
    tip.style.display = 'block';
    place(e);
  });
  el.addEventListener('mousemove', place);
  el.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
});
function reveal(id) {
  const row = document.getElementById(id);
  if (!row) return;
  document.querySelectorAll('tr.hidden').forEach(r => r.classList.remove('hidden'));
  document.querySelectorAll('tr.fold').forEach(r => r.remove());
  document.querySelectorAll('tr.target').forEach(r => r.classList.remove('target'));
  row.classList.add('target');
  row.scrollIntoView({block: 'center'});
}
document.querySelectorAll('a[data-go], tr[data-go]').forEach(a => a.addEventListener('click', e => {
  e.preventDefault(); reveal(a.dataset.go);
}));
document.querySelectorAll('svg [data-go]').forEach(g => g.addEventListener('click', () =>
  reveal(g.dataset.go)));
document.querySelectorAll('tr.fold').forEach(f => f.addEventListener('click', () => {
  document.querySelectorAll('tr.' + f.dataset.fold).forEach(r => r.classList.remove('hidden'));
  f.remove();
}));
function applyFilters() {
  const hosts = new Set([...document.querySelectorAll('input[data-host]')]
    .filter(c => c.checked).map(c => c.dataset.host));
  hosts.add('orchestrator');
  const points = document.getElementById('points').checked;
  document.querySelectorAll('[data-host-col]').forEach(c => {
    c.style.display = hosts.has(c.dataset.hostCol) ? '' : 'none';
  });
  document.querySelectorAll('tr.ev-row').forEach(r => {
    const show = hosts.has(r.dataset.host) && (points || !r.classList.contains('pt'));
    r.style.display = show ? '' : 'none';
  });
}
document.querySelectorAll('.controls input').forEach(c =>
  c.addEventListener('change', applyFilters));
applyFilters();
"""
CLASS_COLOUR = {
    "read": "#1f6feb",
    "write": "#bf5b04",
    "free": "#d1242f",
    "death": "#24292f",
    "start": "#1a7f37",
    "check": "#1a7f37",
    "held": "#8250df",
    "lock": "#9a6700",
}


def _e(text: Any) -> str:
    """Escaped for HTML; a URL scheme is broken up so the page holds no link to anywhere."""
    return html.escape(str(text)).replace("://", ":&#47;&#47;")


def _lives(s: st.Story) -> dict[str, list[tuple[float, float | None, dict[str, Any]]]]:
    """Per host: (started, died-by-signal or None, exit record) — to hatch the dead time."""
    out: dict[str, list[Any]] = {}
    for r in s.records:
        if r["kind"] == "process.start":
            out.setdefault(r["host"], []).append([r["t"], None, {"pid": r["pid"]}])
        elif r["kind"] == "process.exit" and out.get(r["host"]):
            life = out[r["host"]][-1]
            life[2] = r
            if r.get("signal"):
                life[1] = r["t"]
    return out


def _dead(lives: list[Any], t: float) -> bool:
    """Between a death by signal and the next start."""
    state = False
    for start, died, _ in lives:
        if t >= start:
            state = died is not None and t > died
    return state


def _host_note(lives: list[Any]) -> str:
    return "; ".join(
        f"pid {rec.get('pid')}"
        + (f" killed ({rec.get('signal')}) at t={died:.4f}" if died is not None else "")
        for _start, died, rec in lives
    )


def _overview(s: st.Story, lanes: list[st.Lane], ids: dict[int, str]) -> str:
    """The whole run at a glance: a row per lane, x = event order, steps along the top."""
    shown = [e for e in s.events if e.cls != "point"]
    if not shown:
        return ""
    pos = {id(e): i for i, e in enumerate(shown)}
    row_h, top, left, step_w = 16, 30, 190, 9
    width = left + step_w * len(shown) + 20
    height = top + row_h * len(lanes) + 6
    out = [
        f'<svg class="overview" viewBox="0 0 {width} {height}" '
        f'preserveAspectRatio="xMinYMin meet" role="img" aria-label="overview">'
    ]
    index = {lane.key: n for n, lane in enumerate(lanes)}

    def x_at(t: float) -> float:
        before = [i for i, e in enumerate(shown) if e.t <= t]
        return left + step_w * (before[-1] if before else 0)

    for n, lane in enumerate(lanes):
        y = top + n * row_h
        fill = "#f6f8fa" if n % 2 else "#fff"
        out.append(f'<rect x="0" y="{y}" width="{width}" height="{row_h}" fill="{fill}"/>')
        out.append(f'<text x="4" y="{y + 11}">{_e(lane.title)}</text>')
        for a, b in lane.locks:
            x0, x1 = x_at(a), x_at(s.end if b is None else b) + step_w
            out.append(
                f'<rect x="{x0}" y="{y + 2}" width="{max(2, x1 - x0)}" '
                f'height="{row_h - 4}" fill="#f7d774" rx="2"/>'
            )
    for stp in s.steps:
        x = x_at(stp.start)
        colour = "#d1242f" if not stp.ok else "#54aeff"
        out.append(
            f'<line x1="{x}" x2="{x}" y1="12" y2="{height}" stroke="{colour}" '
            f'stroke-dasharray="2 2"/>'
        )
        out.append(
            f'<text x="{x + 2}" y="22" data-go="step{stp.number}" style="cursor:pointer">'
            f"{stp.number}</text>"
        )
    out.append('<text x="4" y="22">steps →</text>')
    for e in shown:
        if e.lane not in index:
            continue
        x = left + step_w * pos[id(e)]
        y = top + index[e.lane] * row_h
        colour = "#d1242f" if e.mark and e.cls != "death" else CLASS_COLOUR.get(e.cls, "#8c959f")
        go = f' data-go="{ids[id(e)]}" data-i="{ids[id(e)][1:]}" style="cursor:pointer"'
        if e.cls in ("free", "death") or e.mark:
            out.append(f'<circle cx="{x + 4}" cy="{y + 8}" r="6" fill="{colour}"{go}/>')
        else:
            out.append(
                f'<rect x="{x + 1}" y="{y + 4}" width="{step_w - 2}" height="8" '
                f'fill="{colour}"{go}/>'
            )
    out.append("</svg>")
    return "".join(out)


def render(s: st.Story) -> str:
    lanes = s.ordered()
    lives = _lives(s)
    ids = {id(e): f"e{n}" for n, e in enumerate(s.events)}
    keys = {id(e) for why in s.why for e in why.events}
    data = [{"label": e.label, "detail": e.detail} for e in s.events]
    verdict = {True: ("PASS", "pass"), False: ("FAIL", "fail"), None: ("unfinished", "")}[s.ok]
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>testbed timeline: {_e(s.scenario)} ({_e(s.tracker)}) {verdict[0]}</title>",
        f"<style>{CSS}</style></head><body><header>",
        f"<h1>{_e(s.scenario or 'run')} · tracker {_e(s.tracker)} · "
        f"<span class='{verdict[1]}'>{verdict[0]}</span></h1>",
    ]
    if s.failure or s.why:
        out.append("<div class='verdict'>")
        out += [f"<p class='failed'><b>{_e(f)}</b></p>" for f in s.failure]
        for why in s.why:
            out.append(
                f"<p class='why'><b>Why:</b> {_e(why.sentence)} "
                f"<a href='#' data-go='{ids[id(why.free)]}'>show it</a></p><table class='brief'>"
            )
            for e in why.events:
                out.append(
                    f"<tr data-go='{ids[id(e)]}'><td>t={e.t:.4f}</td>"
                    f"<td>{_e(s.lanes[e.lane].title)}</td>"
                    f"<td><span class='ev {e.cls}' data-i='{ids[id(e)][1:]}'>{_e(e.label)}</span>"
                    "</td></tr>"
                )
            out.append("</table>")
        out.append("</div>")
    elif s.ok:
        out.append("<div class='verdict passed'><p>Every check and invariant held.</p></div>")
    out.append("<nav class='steps'>")
    for stp in s.steps:
        bad = "" if stp.ok else " class='bad'"
        out.append(
            f"<a href='#' data-go='step{stp.number}'{bad} title='{_e(stp.error)}'>"
            f"{stp.number} {_e(stp.text)}</a>"
        )
    out.append("</nav>")
    out.append(
        "<div class='legend'>"
        "<span><i class='sw' style='background:#f7d774'></i>the task holds its host's "
        "resource lock</span>"
        "<span style='color:#1f6feb'>◇ state read</span>"
        "<span style='color:#bf5b04'>◆ state write (before → after)</span>"
        "<span style='color:#6e7781'>· injection point</span>"
        "<span style='color:#8250df'>‖ held back by a hold</span>"
        "<span><i class='sw' style='background:#d1242f'></i>device freed / check failed</span>"
        "<span>✖ process killed</span><span>▶ process (re)started</span>"
        "<span><i class='sw' style='background:repeating-linear-gradient(45deg,#fff,#fff 2px,"
        "#ccc 2px,#ccc 4px)'></i>host down</span>"
        "<span style='color:#6e7781'>time flows down · hover an event for its record</span>"
        "</div>"
    )
    hosts = [h for h in s.hosts() if h != ORCHESTRATOR]
    out.append(
        "<div class='controls'>hosts: "
        + "".join(
            f"<label><input type='checkbox' data-host='{_e(h)}' checked> {_e(h)}</label>"
            for h in hosts
        )
        + "<label><input type='checkbox' id='points' checked> injection points"
        "</label></div>"
    )
    out.append(_overview(s, lanes, ids))
    out.append("</header><main><table id='timeline'><thead><tr class='hosts'><th class='t'></th>")
    for host in [ORCHESTRATOR, *hosts]:
        span = sum(1 for lane in lanes if lane.host == host)
        if span:
            note = _host_note(lives.get(host, []))
            out.append(
                f"<th colspan='{span}' data-host-col='{_e(host)}'>{_e(host)}"
                f"{f' <small>{_e(note)}</small>' if note else ''}</th>"
            )
    out.append("</tr><tr class='lanes'><th class='t'>t (s)</th>")
    for lane in lanes:
        out.append(
            f"<th data-lane='{_e(lane.title)}' data-host-col='{_e(lane.host)}'>"
            f"{_e(lane.title)}</th>"
        )
    out.append("</tr></thead><tbody>")
    cols = len(lanes) + 1
    steps = list(s.steps)
    first = steps[0].start if steps else None
    folded = [e for e in s.events if first is not None and e.t < first]
    if len(folded) > 8:
        out.append(
            f"<tr class='fold' data-fold='pre'><td colspan='{cols}'>▸ {len(folded)} "
            "events before the first step (hosts starting: init_host, first audit) — "
            "click to show</td></tr>"
        )
    for e in s.events:
        while steps and steps[0].start <= e.t:
            stp = steps.pop(0)
            bad = "" if stp.ok else " bad"
            err = f" — {_e(stp.error)}" if stp.error else ""
            out.append(
                f"<tr class='step{bad}' id='step{stp.number}'><td colspan='{cols}'>"
                f"step {stp.number}: {_e(stp.text)}{err}</td></tr>"
            )
        classes = ["ev-row"] + (["pt"] if e.cls == "point" else []) + (["mark"] if e.mark else [])
        classes += ["key"] if id(e) in keys else []
        if folded and len(folded) > 8 and e.t < first:
            classes += ["pre", "hidden"]
        out.append(
            f"<tr id='{ids[id(e)]}' class='{' '.join(classes)}' "
            f"data-host='{_e(e.lane[0])}'><td class='t'>{e.t:.4f}</td>"
        )
        for lane in lanes:
            td = []
            if any(a <= e.t and (b is None or e.t <= b) for a, b in lane.locks):
                td.append("lock")
            if lane.host in lives and _dead(lives[lane.host], e.t):
                td.append("dead")
            attrs = f" class='{' '.join(td)}'" if td else ""
            out.append(f"<td{attrs} data-host-col='{_e(lane.host)}'>")
            if lane.key == e.lane:
                mark = " mark" if e.mark else ""
                out.append(
                    f"<span class='ev {e.cls}{mark}' data-i='{ids[id(e)][1:]}'>{_e(e.label)}</span>"
                )
            out.append("</td>")
        out.append("</tr>")
    for stp in steps:
        out.append(
            f"<tr class='step' id='step{stp.number}'><td colspan='{cols}'>"
            f"step {stp.number}: {_e(stp.text)}</td></tr>"
        )
    out.append("</tbody></table></main><div id='tip'></div>")
    blob = json.dumps(data).replace("</", "<\\/").replace("://", ":\\/\\/")
    out.append(f"<script type='application/json' id='records'>{blob}</script>")
    out.append(f"<script>{JS}</script></body></html>")
    return "".join(out)


def write_page(run_dir: Path, path: Path | None = None) -> Path:
    """Render ``run_dir``'s history into ``path`` (default ``run_dir/timeline.html``)."""
    path = path or Path(run_dir) / PAGE
    path.write_text(render(st.load(Path(run_dir))), encoding="utf-8")
    return path
