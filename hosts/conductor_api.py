"""The host's only way to state: requests to the orchestrator's conductor (``nova.conductor``).

Each thread gets its own DEALER socket (ZeroMQ sockets are not shared between threads). It
must not cache what it reads: every read asks the orchestrator, so that a race sees the state
as it is at that moment, as Nova's objects do."""

from __future__ import annotations

import itertools
import os
import threading
from typing import Any

import zmq

from hosts.injection import Injector
from testbed import events
from testbed.secure import Curve
from testbed.transport import RpcClient


class ConductorAPI:
    def __init__(
        self,
        ctx: zmq.Context,
        endpoint: str,
        timeout: float,
        host: str,
        inject: Injector,
        curve: Curve | None = None,
    ):
        self.ctx, self.endpoint, self.timeout = ctx, endpoint, timeout
        self.host, self.inject, self.curve = host, inject, curve
        self._local = threading.local()
        self._n = itertools.count()

    def _client(self) -> RpcClient:
        client = getattr(self._local, "client", None)
        if client is None:
            # The identity names the host, pid and task: the history says who asked, network
            # faults find the host's link by it (testbed.events.peer_identity).
            task = self.inject.task or events.PERIODIC  # init_host, registration, heartbeats
            who = events.peer_identity(self.host, os.getpid(), task, next(self._n))
            client = self._local.client = RpcClient(
                self.ctx, self.endpoint, self.timeout, who.decode(), self.curve
            )
        return client

    def call(self, op: str, **body: Any) -> Any:
        """A read or write of the shared state (a scheduling point on a traced host)."""
        return self.inject.request(op, body, lambda: self._client().call(op, body))

    def release(self) -> None:
        """Close this thread's socket (call when a worker thread ends)."""
        client = getattr(self._local, "client", None)
        if client is not None:
            client.close()
            self._local.client = None

    def trace(self, body: dict[str, Any], timeout: float) -> Any:
        """Report a point or lock event; the reply may be held back (see hosts.injection)."""
        return self._client().call("trace", body, timeout)

    def tell(self, body: dict[str, Any]) -> bool:
        """Report a lock event nobody waits an answer to (``testbed.vocabulary.TOLD``)."""
        return self._client().tell("trace", body)

    def service_heartbeat(self, pid: int, timeout: float) -> None:
        self._client().call("service.heartbeat", {"host": self.host, "pid": pid}, timeout)

    # The calls the compute manager and resource tracker make, named after Nova's objects.
    def instance_get(self, uuid: str) -> dict[str, Any]:
        return self.call("instance.get", uuid=uuid)

    def instance_list_by_host(self) -> list[dict[str, Any]]:
        return self.call("instance.list_by_host", host=self.host)

    def instance_save(self, uuid: str, **updates: Any) -> None:
        self.call("instance.save", uuid=uuid, updates=updates)

    def migration_get_in_progress_and_error(self) -> list[dict[str, Any]]:
        self.inject("migration_list.get_in_progress_and_error")
        return self.call("migration.query", host=self.host, in_progress=True)

    def migration_query(self, **filters: Any) -> list[dict[str, Any]]:
        return self.call("migration.query", **filters)

    def migration_get(self, migration_id: int) -> dict[str, Any]:
        return self.call("migration.get", id=migration_id)

    def migration_save(self, migration_id: int, status: str) -> None:
        self.call("migration.save", id=migration_id, status=status)

    def pci_get(self) -> list[dict[str, Any]]:
        return self.call("pci.get", host=self.host)

    def pci_save(self, devices: list[dict[str, Any]]) -> None:
        self.call("pci.save", host=self.host, devices=devices)
