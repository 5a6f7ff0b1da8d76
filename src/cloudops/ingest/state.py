"""State a worker keeps between messages, so that a restart (or another replica) picks it up.

The recommender's last run per tenant (coalescing a burst of receipts), the proposer's last
proposal per fingerprint and its digest issues, the schedule's last listing per source and
its takeover announcements: each lives in ``public.worker_state`` (migration 0012) when a
control plane is configured.

Write-through with a read cache: every value is kept in this process's memory and stored in
PostgreSQL; a read is answered from memory and asks PostgreSQL only for what this process has
not seen yet (what it stored before a restart). One key is written by one worker at a time in
practice (a tenant's receipts, a fingerprint's recommendations and a source's listings each go
to one consumer), so the cache does not go stale. When the control plane cannot answer (none
configured, a tenant that is not registered, an outage, migrations not run) the worker keeps
its memory only: it behaves as it did before its state was persisted, and never fails a
message over it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from cloudops.settings import Settings
from cloudops.sinks.postgres import worker_state

__all__ = ["WorkerState"]

log = logging.getLogger(__name__)


class WorkerState:
    """One worker's ``(tenant, key) -> JSON value`` store (see module doc)."""

    def __init__(self, settings: Settings, worker: str) -> None:
        self.dsn = settings.postgres.dsn
        self.worker = worker
        self._memory: dict[tuple[str, str], Any] = {}  # what this process stored or read
        self._loaded: set[tuple[str, str | None]] = set()  # (prefix, tenant) read from PostgreSQL already

    async def get(self, tenant: str, key: str) -> Any | None:
        """The value stored under ``key`` for ``tenant``, or None (PostgreSQL is asked on a memory miss)."""
        if (tenant, key) not in self._memory and self.dsn:
            try:
                value = await asyncio.to_thread(worker_state.get_state, self.dsn, self.worker, tenant, key)
            except Exception as exc:
                self._degraded("read", exc)
            else:
                if value is not None:
                    self._memory[(tenant, key)] = value
        return self._memory.get((tenant, key))

    async def items(self, prefix: str = "", *, tenant: str | None = None) -> dict[tuple[str, str], Any]:
        """Every ``(tenant, key) -> value`` of this worker whose key starts with ``prefix`` (of one tenant).

        PostgreSQL is read once per ``(prefix, tenant)`` in this process; memory holds the rest.
        """
        if self.dsn and (prefix, tenant) not in self._loaded:
            try:
                stored = await asyncio.to_thread(
                    worker_state.load_states, self.dsn, self.worker, tenant=tenant, prefix=prefix
                )
            except Exception as exc:
                self._degraded("read", exc)
            else:
                self._memory = {**stored, **self._memory}
                self._loaded.add((prefix, tenant))
        return {
            (t, k): v for (t, k), v in self._memory.items() if k.startswith(prefix) and (tenant is None or t == tenant)
        }

    async def put(self, tenant: str, values: Mapping[str, Any]) -> None:
        """Store each ``key -> value`` of ``values`` for ``tenant``."""
        for key, value in values.items():
            self._memory[(tenant, key)] = value
        if self.dsn and values:
            try:
                await asyncio.to_thread(worker_state.put_states, self.dsn, self.worker, tenant, values)
            except Exception as exc:
                self._degraded("write", exc)

    async def drop(self, tenant: str, key: str) -> None:
        """Forget ``key`` for ``tenant``."""
        self._memory.pop((tenant, key), None)
        if self.dsn:
            try:
                await asyncio.to_thread(worker_state.delete_state, self.dsn, self.worker, tenant, key)
            except Exception as exc:
                self._degraded("write", exc)

    def _degraded(self, what: str, exc: Exception) -> None:
        log.info("%s: could not %s its state in PostgreSQL, using memory: %s", self.worker, what, exc)
