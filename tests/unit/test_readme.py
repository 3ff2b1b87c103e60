"""The README is the front door and docs/ the manual: the README stays short, opens with the two
commands and links only pages that exist; the tables of docs/ say what the code has (a step, a
scenario, a configuration key or a pytest option added, renamed or given a field shows up here
or the suite fails)."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import orchestrator.pytest_plugin
from orchestrator.run import scenario as sc
from orchestrator.run.steps import REQUIRED, STEPS
from testbed.config import Config

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"


def page(name: str) -> str:
    return (DOCS / name).read_text()


def table_after(text: str, heading: str) -> list[list[str]]:
    """The rows of the first table after the line starting with ``heading``."""
    lines = text[text.index(heading) :].splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("|"))
    rows = []
    for ln in lines[start + 2 :]:
        if not ln.startswith("|"):
            break
        rows.append([c.strip() for c in re.split(r"(?<!\\)\|", ln.strip().strip("|"))])
    return rows


def links(text: str, anchors: bool = False) -> list[str]:
    """The local targets of the markdown links and images in ``text`` (anchors dropped unless
    asked for)."""
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    local = [t for t in targets if not re.match(r"[a-z]+:", t) and t[0] != "#"]
    return local if anchors else [t.split("#")[0] for t in local]


def headings(text: str) -> set[str]:
    """The anchors of a page's headings, spelled as the usual markdown renderers spell them."""
    titles = re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", text, flags=re.S), re.M)
    return {re.sub(r"[^\w\- ]", "", t.lower()).replace(" ", "-") for t in titles}


def test_the_readme_is_a_front_door() -> None:
    assert len(README.splitlines()) <= 200
    installs = [ln for ln in README.splitlines() if ln.startswith("pip install")]
    assert installs[:2] == ["pip install . && testbed run", "pip install tox && tox -e testbed"]
    # the commands come after a few lines saying what the project is, before anything else
    before = README[: README.index(installs[0])]
    assert "## " not in before and len(before.splitlines()) <= 15


def test_every_page_the_readme_links_exists_and_every_page_is_linked() -> None:
    linked = {(ROOT / t).resolve() for t in links(README)}
    assert all(path.exists() for path in linked), sorted(str(p) for p in linked)
    assert {p.resolve() for p in DOCS.glob("*.md")} <= linked


def test_every_link_and_picture_of_docs_resolves() -> None:
    for path in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for target in links(path.read_text(), anchors=True):
            file, _, anchor = target.partition("#")
            where = path.parent / file
            assert where.exists(), f"{path.name}: {target}"
            assert not anchor or anchor in headings(where.read_text()), f"{path.name}: {target}"
    pictures = {t for p in DOCS.glob("*.md") for t in links(p.read_text()) if t.endswith(".png")}
    assert pictures >= {p.name for p in DOCS.glob("*.png")}


def test_the_step_table_lists_every_step_with_its_fields() -> None:
    documented = {}
    for name_cell, fields_cell, _ in table_after(page("scenarios.md"), "Steps (`do = ...`"):
        fields = {
            f: not optional for optional, f in re.findall(r"(\[?)`([a-z_]+)`\]?", fields_cell)
        }
        for name in re.findall(r"`([a-z_]+)`", name_cell):
            documented[name] = fields
    declared = {
        name: {f: default is REQUIRED for f, (_, default) in kind.fields.items()}
        for name, kind in STEPS.items()
    }
    assert documented == declared


def test_the_scenario_table_lists_every_built_in_scenario() -> None:
    rows = table_after(page("scenarios.md"), "| scenario | what it checks |")
    assert sorted(re.findall(r"`([^`]+)`", r[0])[0] for r in rows) == sc.builtin_names()


def test_the_configuration_reference_has_every_key() -> None:
    text = page("configuration.md")
    block = re.search(r"```toml\n(.*?)```", text, re.S).group(1)
    sections = dict(re.findall(r"^\[(\w+)\](.*?)(?=^\[|\Z)", block, re.S | re.M))
    for section in dataclasses.fields(Config):
        if section.name == "origins":
            continue
        assert section.name in sections, section.name
        if dataclasses.is_dataclass(section.default_factory):
            keys = set(re.findall(r"^(\w+) =", sections[section.name], re.M))
            assert keys == {f.name for f in dataclasses.fields(section.default_factory)}


def test_the_pytest_page_has_every_option_and_ini_key() -> None:
    """Read from the plugin's pytest_addoption: each addoption and addini call's name."""
    tree = ast.parse(Path(orchestrator.pytest_plugin.__file__).read_text())
    hook = next(
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "pytest_addoption"
    )
    names = [
        call.args[0].value
        for call in ast.walk(hook)
        if isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr in ("addoption", "addini")
    ]
    assert len(names) >= 9
    text = page("pytest.md")
    for name in names:
        assert f"`{name}" in text, name


PAGES = [ROOT / "README.md", ROOT / "checks" / "README.md", *sorted(DOCS.glob("*.md"))]
FOLDERS = ("testbed", "hosts", "orchestrator", "tests", "benchmarks", "checks", "docs")
FILES = ("log", "toml", "json", "jsonl", "sqlite", "html", "md", "py", "png")
PATH = re.compile(rf"(?<![\w/.-])((?:{'|'.join(FOLDERS)})/[\w/.*<>-]*)")
MODULE = re.compile(r"(?<![\w/.-])((?:testbed|hosts|orchestrator)[.:][\w.:]+)")


def spans(text: str) -> list[str]:
    """The inline code of a page (``like this``), fenced blocks left out: they show output."""
    return re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))


def registered(path: str) -> bool:
    """A system's folder the registry names (``testbed.system.SYSTEMS``): it may come with
    that system, not before."""
    from testbed.system import SYSTEMS

    parts = path.split("/")
    return len(parts) > 1 and parts[0] in ("hosts", "orchestrator") and parts[1] in SYSTEMS


def resolves(name: str) -> bool:
    """``pkg.module.attr`` or ``pkg.module:attr``: the longest importable module, then the
    attributes after it."""
    import importlib

    dotted = name.replace(":", ".").split(".")
    for i in range(len(dotted), 0, -1):
        try:
            obj = importlib.import_module(".".join(dotted[:i]))
        except ImportError:
            continue
        try:
            for attr in dotted[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def test_every_path_and_module_the_pages_name_exists() -> None:
    """A module moved or renamed leaves no page naming the old place: every repository path
    (``tests/unit/test_layers.py``, ``hosts/model/``) and every dotted name of testbed's own
    modules (``testbed.fixes.PRESETS``, ``hosts.process:main``) in a page's inline code."""
    stale = []
    for page_path in PAGES:
        for span in spans(page_path.read_text()):
            for path in PATH.findall(span):
                path = path.rstrip(".")
                if "<" in path or registered(path):
                    continue
                if not (any(ROOT.glob(path)) if "*" in path else (ROOT / path).exists()):
                    stale.append(f"{page_path.name}: {path}")
            for name in MODULE.findall(span):
                name = name.rstrip(".:")
                if name.rsplit(".", 1)[-1] in FILES or registered(name.replace(".", "/")):
                    continue
                if not resolves(name):
                    stale.append(f"{page_path.name}: {name}")
    assert not stale, stale


def test_the_manual_lists_every_control_command_with_its_options() -> None:
    """The block of docs/manual.md's "Control commands": one line per command of the table of
    actions, each with a flag per optional field (``--no-wait`` for one that is on)."""
    from orchestrator.run.action import CONTROL
    from orchestrator.run.actions import of

    text = page("manual.md")
    block = re.search(r"## Control commands.*?```\n(.*?)```", text, re.S).group(1)
    lines = {ln.split()[1]: ln for ln in block.splitlines() if ln.startswith("testbed ")}
    commands = {a.command: a for a in of(CONTROL) if a.cli}
    assert sorted(lines) == sorted(commands)
    for name, a in commands.items():
        for f in a.fields.values():
            if f.required:
                continue
            flag = f.name.replace("_", "-")
            flag = f"--no-{flag}" if f.default is True else f"--{flag}"
            assert f"[{flag}" in lines[name], (name, flag)
