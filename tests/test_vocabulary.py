"""The shared names: one spelling reaches every side (the control CLI, the state file, JSON)."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.cli.main import build_parser
from orchestrator.model.store import ModelStore
from testbed.vocabulary import MIGRATION_FINISHED, SIGNALS, MigrationStatus, VmState


def test_the_control_cli_offers_every_signal() -> None:
    for name in SIGNALS:
        args = build_parser().parse_args(["kill", "host1", "--signal", name])
        assert args.signal == name


def test_names_are_stored_and_sent_as_plain_strings(tmp_path: Path) -> None:
    state = ModelStore(tmp_path / "state.sqlite")
    try:
        uuid = state.instance_create("vm1", "host1", 1)
        row = state.instance_get(uuid)
        assert type(row["vm_state"]) is str and row["vm_state"] == VmState.BUILDING
        assert json.loads(json.dumps({"s": VmState.ACTIVE})) == {"s": "active"}
    finally:
        state.close()


def test_in_progress_leaves_out_exactly_the_finished_statuses(tmp_path: Path) -> None:
    state = ModelStore(tmp_path / "state.sqlite")
    try:
        ids = {}
        for status in MigrationStatus:
            ids[status] = state.migration_create("u", "host1", "host2")
            state.migration_save(ids[status], status)
        kept = {m["status"] for m in state.migration_query(host="host1", in_progress=True)}
        assert kept == set(MigrationStatus) - set(MIGRATION_FINISHED)
        assert kept == {"accepted", "pre-migrating", "preparing", "post-migrating", "finished"}
    finally:
        state.close()
