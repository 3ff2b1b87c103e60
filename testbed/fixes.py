"""The catalogue of named fixes: Nova's resource-audit races, each a fix that can be on or off.

Every host runs with a set of fixes (``cluster.fixes``), and that set alone decides how it
behaves: the hosts' resource tracker asks ``bug in fixes`` where Nova's code changed. The two
named sets are ``PRESETS``: ``tracker = "fixed"`` is every fix on, ``tracker = "buggy"`` every
fix off; ``--fix BUG`` / ``--no-fix BUG`` turn one on or off on top of whatever the earlier
layers said. ``tracker`` is an input that sets the fixes and, once layered, only their
``label``. Each entry names the race, what Nova's fix does, the built-in scenario that makes
the race happen and Nova's regression test it mirrors; the table of docs/catalogue.md is
checked against it.

Data and naming only: it must not import the hosts or the orchestrator, nor decide anything at
run time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from testbed.errors import ConfigError


@dataclass(frozen=True)
class Fix:
    bug: str  # Launchpad bug number, the fix's name
    race: str  # what the audit races with, and what is lost
    fix: str  # what Nova's fix does (and what the host model does when the fix is on)
    scenario: str  # the built-in scenario that fails with this fix off
    nova_test: str  # Nova's functional regression test it mirrors


CATALOGUE: tuple[Fix, ...] = (
    Fix(
        "1896463",
        "evacuation: the destination's audit lists instances before the evacuation sets the "
        "host and migrations after it marks the migration done; clean_usage frees the "
        "evacuated server's devices",
        "finish the evacuation (set host, drop the migration context, migration done) under "
        "the resource lock",
        "evacuate-race",
        "test_bug_1896463.py",
    ),
    Fix(
        "1879878",
        "resize revert: the destination's audit runs between the migration being marked "
        "reverted and the move claim being dropped; the audit forgets the migration, the drop "
        "then finds nothing tracked and the destination keeps the server's devices",
        "mark the migration reverted (or confirmed) and drop the move claim in one critical "
        "section under the resource lock, dropping by the instance's flavor",
        "resize-revert-race",
        "test_bug_1879878.py (test_migrate_revert)",
    ),
    Fix(
        "1849165",
        "live migration: the destination's audit runs after the migration started but before "
        "the destination's claim; the migration has no migration context yet and the audit "
        "crashes on it, so the host's resource view is not refreshed",
        "skip in-progress migrations whose instance has no migration context yet",
        "live-migration-race",
        "test_bug_1849165.py (test_update_dest_between_mig_start_and_claim)",
    ),
    Fix(
        "2025480",
        "unshelve: the audit runs while the unshelved server spawns, still shelved-offloaded; "
        "the audit counts it among servers whose resources may be removed and frees the "
        "devices it just claimed",
        "a shelved-offloaded server that is spawning keeps its resources "
        "(vm_states.allow_resource_removal)",
        "unshelve-race",
        "test_bug_2025480.py (test_unshelve_spawning_update_available_resources)",
    ),
    Fix(
        "1818914",
        "resize confirm: the source drops its claim only if its audit had already run (and "
        "tracked the migration); confirmed before any audit there, the source keeps the "
        "server's devices",
        "drop the source's claim by the instance's old flavor, tracked or not",
        "resize-confirm-leak",
        "test_servers.py (test_resize_confirm_assert_hypervisor_usage_no_periodics)",
    ),
)

FIXES: dict[str, Fix] = {f.bug: f for f in CATALOGUE}
ALL: tuple[str, ...] = tuple(FIXES)

# The named sets of fixes (``cluster.tracker``, ``--tracker``, a scenario's ``outcomes`` keys),
# in the order they are shown and run: none on, every one on.
PRESETS: dict[str, frozenset[str]] = {"buggy": frozenset(), "fixed": frozenset(ALL)}


def check(bugs: Iterable[str], where: str) -> list[str]:
    """The bugs, in catalogue order, each known; an unknown one is refused naming it."""
    bugs = list(bugs)
    for bug in bugs:
        if bug not in FIXES:
            raise ConfigError(f"{where}: unknown bug '{bug}' (fixes: {', '.join(ALL)})")
    return [b for b in ALL if b in bugs]


def preset(name: str, where: str) -> list[str]:
    """The fixes a named set turns on, in catalogue order; an unknown name is refused."""
    if name not in PRESETS:
        names = ", ".join(PRESETS)
        raise ConfigError(f"{where}: 'cluster.tracker' must be one of {names}: '{name}'")
    return [b for b in ALL if b in PRESETS[name]]


def label(fixes: Iterable[str]) -> str:
    """How a set of fixes is shown: its preset's name (``fixed``: all on, ``buggy``: all off),
    or the command line that makes it from the nearer preset, e.g. ``fixed --no-fix 1879878``."""
    on = frozenset(fixes)
    for name, bugs in PRESETS.items():
        if on == bugs:
            return name
    off = [b for b in ALL if b not in on]
    if len(off) <= len(on):
        return "fixed " + " ".join(f"--no-fix {b}" for b in off)
    return "buggy " + " ".join(f"--fix {b}" for b in ALL if b in on)


def slug(fixes: Iterable[str]) -> str:
    """``label`` as a file name part: ``fixed``, ``buggy``, ``fixed-no-fix-1879878``."""
    return label(fixes).replace(" --", "-").replace(" ", "-")
