"""The layering the project is built on, checked from the source: the kernel (``testbed/``)
imports nothing above it, ``hosts/`` and ``orchestrator/`` never import each other, and inside
``orchestrator/`` every import points down the order of its packages. Imports inside functions
count as much as those at the top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "testbed": {"orchestrator", "hosts"},
    "hosts": {"orchestrator"},
    "orchestrator": {"hosts"},
}

# orchestrator's packages, low to high: each may import its own package and those of lower
# levels, never one beside it or above. The systems under test (model, nova) sit just above the
# cluster they plug into: nothing in orchestrator imports a system, which the cluster loads by
# name through the kernel's registry (testbed.system).
ORDER = [
    {"holds"},
    {"cluster"},
    {"history"},
    {"run"},
    {"explore", "control"},
    {"cli"},
    {"pytest_plugin"},  # it reads its options as the command line does (cli.options)
]
SYSTEMS = {"model": 2, "nova": 2}  # their level: above holds and cluster, below the rest
LEVEL = {pkg: i for i, level in enumerate(ORDER) for pkg in level}
TOP = {"__init__", "scenarios"}  # the package's docstring; scenario files are data


def imports(path: Path) -> set[str]:
    """Every absolute module a file imports, wherever the import statement stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def imported_packages(path: Path) -> set[str]:
    """Top-level packages a module imports, wherever the import statement stands."""
    return {m.split(".")[0] for m in imports(path)}


def room(path_or_module: str) -> str:
    """The package of orchestrator a file or module belongs to (``cluster``, ``cli``...)."""
    parts = path_or_module.replace("/", ".").removesuffix(".py").split(".")
    return parts[1] if len(parts) > 1 else ""


def wrong_way(src: str, dst: str) -> bool:
    if src == dst or dst in TOP:
        return False
    if dst in SYSTEMS:  # only a system's own package (or a test, a benchmark) imports it
        return True
    level = {**LEVEL, **SYSTEMS}
    if src not in level or dst not in level:
        return True  # a package the order does not place: place it first
    return level[dst] >= level[src]


def orchestrator_violations(files: list[Path]) -> dict[str, list[str]]:
    bad = {}
    for path in files:
        src = room(str(path.relative_to(ROOT)))
        wrong = sorted(
            m for m in imports(path) if m.startswith("orchestrator.") and wrong_way(src, room(m))
        )
        if wrong:
            bad[str(path.relative_to(ROOT))] = wrong
    return bad


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_points_up_or_across(package: str) -> None:
    bad = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert {k: v for k, v in bad.items() if v} == {}


def test_every_orchestrator_package_has_its_place() -> None:
    rooms = {room(str(p.relative_to(ROOT))) for p in (ROOT / "orchestrator").rglob("*.py")}
    assert rooms - TOP - set(LEVEL) - set(SYSTEMS) == set()


def test_inside_the_orchestrator_every_import_points_down() -> None:
    """holds < cluster < (the systems) < history < run < explore, control < cli,
    pytest_plugin: the cluster imports nothing from running, exploring or history, and no
    package imports a system under test."""
    files = sorted((ROOT / "orchestrator").rglob("*.py"))
    assert orchestrator_violations(files) == {}


def test_the_check_sees_a_lazy_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from orchestrator import cluster\n    import hosts.pci\n")
    assert imported_packages(module) == {"orchestrator", "hosts"}


def test_the_order_check_fails_on_an_import_the_wrong_way(tmp_path: Path) -> None:
    """A lazy import of the run layer from the cluster, of the history from the cluster, of the
    model from the run layer and of control from explore are each caught."""
    cluster = tmp_path / "orchestrator" / "cluster"
    run = tmp_path / "orchestrator" / "run"
    explore = tmp_path / "orchestrator" / "explore"
    for d in (cluster, run, explore):
        d.mkdir(parents=True)
    (cluster / "c.py").write_text(
        "from orchestrator.holds.board import Board\n"
        "def f():\n    from orchestrator.run.retry import until_ok\n"
        "    import orchestrator.history.recorder\n"
    )
    (run / "r.py").write_text("from orchestrator.model.store import ModelStore\n")
    (explore / "e.py").write_text("from orchestrator.cluster import footprint\n")
    (explore / "x.py").write_text("from orchestrator.control import commands\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        bad = orchestrator_violations(sorted(tmp_path.rglob("*.py")))
    finally:
        ROOT = saved
    assert bad == {
        "orchestrator/cluster/c.py": [
            "orchestrator.history.recorder",
            "orchestrator.run.retry",
            "orchestrator.run.retry.until_ok",
        ],
        "orchestrator/run/r.py": [
            "orchestrator.model.store",
            "orchestrator.model.store.ModelStore",
        ],
        "orchestrator/explore/x.py": ["orchestrator.control", "orchestrator.control.commands"],
    }
