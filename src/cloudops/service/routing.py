"""Routing in: the control plane's answer to "whose object is this?" for the bridge and the schedule.

:class:`Router` keeps a :class:`~cloudops.sources.routing.RouteTable` of every tenant's
sources, reloaded from PostgreSQL when older than ``CLOUDOPS_INGEST__ROUTES_TTL_S`` and once
more on a miss (a source added a moment ago routes at once). Async: the blocking reads run
in a thread.
"""

from __future__ import annotations

import asyncio
import time

from cloudops.settings import Settings
from cloudops.sinks.postgres.sources import SourceRecord, sources_of_tenants
from cloudops.sources.routing import Route, RouteEntry, RouteTable, Unroutable

__all__ = ["DueSource", "Route", "Router", "Unroutable", "load_route_table"]


def load_route_table(dsn: str) -> tuple[RouteTable, list[tuple[str, str, SourceRecord]]]:
    """The route table and (tenant, tenant state, source) rows of every tenant. Blocks."""
    rows: list[tuple[str, str, SourceRecord]] = [(t.id, t.state, s) for t, s in sources_of_tenants(dsn)]
    table = RouteTable(RouteEntry(tenant, state, s.id, s.bucket, s.prefix, s.enabled) for tenant, state, s in rows)
    return table, rows


DueSource = tuple[str, SourceRecord]


class Router:
    """Cached routing over the control plane (one per worker process)."""

    def __init__(self, settings: Settings) -> None:
        if not settings.postgres.dsn:
            raise ValueError("routing needs the control plane (CLOUDOPS_POSTGRES__DSN)")
        self._dsn = settings.postgres.dsn
        self._ttl = settings.ingest.routes_ttl_s
        self._table = RouteTable(())
        self._rows: list[tuple[str, str, SourceRecord]] = []
        self._loaded_at = float("-inf")

    async def refresh(self) -> None:
        """Reload the table now."""
        self._table, self._rows = await asyncio.to_thread(load_route_table, self._dsn)
        self._loaded_at = time.monotonic()

    async def _fresh(self) -> RouteTable:
        if time.monotonic() - self._loaded_at > self._ttl:
            await self.refresh()
        return self._table

    async def route(self, bucket: str, key: str) -> Route:
        """(tenant, source) of the object; Unroutable with the reason (after one reload on a miss)."""
        table = await self._fresh()
        try:
            return table.route(bucket, key)
        except Unroutable:
            if time.monotonic() - self._loaded_at < 1.0:
                raise
        await self.refresh()
        return self._table.route(bucket, key)

    async def active_sources(self) -> list[DueSource]:
        """(tenant, source) of every enabled source of every active tenant (fresh read)."""
        await self.refresh()
        return [(t, s) for t, state, s in self._rows if state == "active" and s.enabled]
