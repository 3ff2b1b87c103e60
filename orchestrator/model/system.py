"""The model's orchestrator side of the seam (``testbed.system.OrchestratorSystem``), named in
the kernel's registry as ``orchestrator.model.system:SYSTEM``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from orchestrator.model.api import ModelAPI
from orchestrator.model.conductor import OPS
from orchestrator.model.describe import describe
from orchestrator.model.store import ModelStore
from testbed.config import Config
from testbed.transport import RouterCaller


class ModelSystem:
    name = "model"
    ops = OPS
    describe = staticmethod(describe)  # how the run's history names its requests
    overlap = True  # every cluster's store is its own SQLite file and connection

    def open_store(self, path: Path) -> ModelStore:
        return ModelStore(path)

    def make_api(
        self,
        state: ModelStore,
        commands: RouterCaller,
        config: Config,
        exited: Callable[[str], bool],
    ) -> ModelAPI:
        return ModelAPI(state, commands, config, exited)


SYSTEM = ModelSystem()
