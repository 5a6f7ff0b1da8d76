"""Cost-query use cases of one tenant: answer a typed query, explain its plan, cost series per resource.

Thin over :class:`cloudops.sinks.analytics.Analytics` (planner over rollups or the raw table,
Redis cache keyed by tenant + data version + normalised query). Every answer carries the
tenant's *data version* (bumped by every completed load, see
:mod:`cloudops.sinks.redis.notify`), which the API uses as the ETag of cost answers: an
answer for version N never changes while the version stays N.

One :class:`Costs` per process (it holds the ClickHouse connections and the cache client);
methods are coroutines, tenant-bound by the caller, read-only (no audit: nothing changes).
Queries run as the tenant's own ClickHouse user when per-tenant users are configured
(``clickhouse.tenant_password_key``), so a server refuses any other tenant's database by itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from cloudops.service.context import Caller, InvalidInput, NotFound
from cloudops.settings import Settings
from cloudops.sinks.analytics import Analytics, QueryResult
from cloudops.sinks.clickhouse.access import connect_tenant
from cloudops.sinks.clickhouse.client import ClickHouse
from cloudops.sinks.clickhouse.migrations import applied_versions
from cloudops.sinks.clickhouse.planner import Filter, Plan, Query
from cloudops.sinks.redis.cache import QueryCache

__all__ = ["CostAnswer", "CostPoint", "Costs"]

_EARLIEST, _LATEST = 1900, 2299


@dataclass(frozen=True, slots=True)
class CostAnswer:
    """A query's rows, its plan (or the cache hit), and the data version it reflects (0: unknown)."""

    result: QueryResult
    data_version: int


@dataclass(frozen=True, slots=True)
class CostPoint:
    """One point of a resource's cost series."""

    period: date
    billed_cost: Decimal
    effective_cost: Decimal
    currency: str


class Costs:
    """The cost use cases for every tenant of one deployment (one instance per process)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = QueryCache(settings.redis.url) if settings.redis.url else None
        self._analytics: dict[str, Analytics] = {}
        self._known: set[str] = set()
        self.queries_run = 0
        """ClickHouse queries answered (cache misses): lets tests prove batching (no N+1)."""

    def _engine(self, tenant: str) -> Analytics:
        engine = self._analytics.get(tenant)
        if engine is None:
            key = self.settings.clickhouse.tenant_password_key
            ch: ClickHouse = connect_tenant(
                self.settings.clickhouse_dsn, tenant, key.get_secret_value() if key else None
            )
            engine = self._analytics[tenant] = Analytics(ch, self.cache)
        return engine

    @staticmethod
    def _check(query: Query) -> Query:
        """InvalidInput for a range ClickHouse cannot hold (DateTime64 spans 1900-2299), or an ``order_by``
        metric the query does not ask for (the planner would sort by a column it never computed)."""
        if query.order_by is not None and query.order_by not in query.metrics:
            raise InvalidInput(
                f"order_by {query.order_by} must be one of the query's metrics ({', '.join(query.metrics)})"
            )
        for name, value in (("start", query.start), ("end", query.end)):
            if value is not None and not _EARLIEST <= value.year <= _LATEST:
                raise InvalidInput(f"{name} {value.isoformat()} is out of range: years {_EARLIEST}..{_LATEST}")
        return query

    async def _ready(self, caller: Caller) -> Analytics:
        tenant = caller.tenant_id
        engine = self._engine(tenant)
        if tenant not in self._known:
            if not await asyncio.to_thread(applied_versions, engine.ch, tenant):
                raise NotFound(f"tenant {tenant!r} has no cost data yet")
            self._known.add(tenant)
        return engine

    async def data_version(self, caller: Caller) -> int:
        """The caller's data version (0 without Redis: then answers carry no version)."""
        if self.cache is None:
            return 0
        return await self.cache.version(caller.tenant_id)

    async def query(
        self, caller: Caller, query: Query, *, raw: bool = False, data_version: int | None = None
    ) -> CostAnswer:
        """Answer ``query`` for the caller's tenant (cache first). Raises NotFound (no data yet),
        TransientError (ClickHouse or Redis unavailable). ``data_version``: the version the caller
        read just before (saves a round trip); the answer is never older than it."""
        self._check(query)
        engine = await self._ready(caller)
        version = await self.data_version(caller) if data_version is None else data_version
        result = await engine.run(caller.tenant_id, query, allow_rollups=not raw)
        if not result.cached:
            self.queries_run += 1
        return CostAnswer(result, version)

    async def explain(self, caller: Caller, query: Query, *, raw: bool = False) -> Plan:
        """The plan ``query`` would run (table chosen, why, SQL with bound parameters); runs nothing."""
        self._check(query)
        engine = await self._ready(caller)
        return await engine.plan(caller.tenant_id, query, allow_rollups=not raw)

    async def series(
        self,
        caller: Caller,
        resource_ids: Sequence[str],
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        granularity: str = "month",
    ) -> dict[str, list[CostPoint]]:
        """Cost series of many resources in ONE query (for DataLoader batching): resource id -> points.

        A resource with no rows maps to ``[]``. Raises like :meth:`query`.
        """
        ids = tuple(dict.fromkeys(resource_ids))
        out: dict[str, list[CostPoint]] = {r: [] for r in ids}
        if not ids:
            return out
        q = Query(
            metrics=("BilledCost", "EffectiveCost"),
            group_by=("ResourceId", "BillingCurrency"),
            filters=(Filter(dimension="ResourceId", values=ids),),
            start=start,
            end=end,
            granularity=granularity,  # type: ignore[arg-type]
        )
        answer = await self.query(caller, q)
        for row in answer.result.as_dicts():
            point = CostPoint(
                period=_as_date(row.get("Period")),
                billed_cost=Decimal(row["BilledCost"]),
                effective_cost=Decimal(row["EffectiveCost"]),
                currency=str(row["BillingCurrency"]),
            )
            out.setdefault(str(row["ResourceId"]), []).append(point)
        for points in out.values():
            points.sort(key=lambda p: p.period)
        return out

    async def close(self) -> None:
        """Close the cache client (the ClickHouse connections are process-wide, see ``close_all``)."""
        if self.cache is not None:
            await self.cache.close()


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
