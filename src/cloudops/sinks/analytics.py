"""Answering analytics queries: plan (rollup or raw), cache (Redis), run (ClickHouse).

Every query is bound to one tenant database (``tenant_<t>``) by the planner; the cache
key carries the tenant and its data version. Money comes back as Decimal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar, cast

from cloudops.sinks.clickhouse.client import ClickHouse, database_for
from cloudops.sinks.clickhouse.planner import ROLLUPS, Plan, Query, plan_query
from cloudops.sinks.clickhouse.tags import promoted_tags
from cloudops.sinks.redis.cache import QueryCache

__all__ = ["Analytics", "QueryResult"]

T = TypeVar("T")

_MONEY = {"BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "ConsumedQuantity", "PricingQuantity", "Savings"}


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    plan: Plan
    cached: bool
    seconds: float

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


def _encode(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    out = []
    for r in rows:
        out.append([str(v) if isinstance(v, Decimal) else v.isoformat() if isinstance(v, date) else v for v in r])
    return out


def _decode(columns: list[str], rows: list[list[Any]]) -> list[tuple[Any, ...]]:
    out = []
    for r in rows:
        vals: list[Any] = []
        for c, v in zip(columns, r, strict=True):
            if c in _MONEY and v is not None:
                vals.append(Decimal(v))
            elif c == "Period" and isinstance(v, str):
                vals.append(date.fromisoformat(v[:10]))
            else:
                vals.append(v)
        out.append(tuple(vals))
    return out


class Analytics:
    """Query service for one ClickHouse connection and an optional Redis cache."""

    def __init__(self, ch: ClickHouse, cache: QueryCache | None = None, *, sizes_ttl_s: float = 60.0) -> None:
        self.ch = ch
        self.cache = cache
        # What the planner needs to know of a tenant's tables, cached briefly: (what, tenant) -> (when, value).
        self._table_facts: dict[tuple[str, str], tuple[float, Any]] = {}
        self._sizes_ttl = sizes_ttl_s

    async def _fact(self, what: str, tenant: str, read: Callable[[], Awaitable[T]]) -> T:
        now = time.monotonic()
        hit = self._table_facts.get((what, tenant))
        if hit and now - hit[0] < self._sizes_ttl:
            return cast(T, hit[1])
        value = await read()
        self._table_facts[(what, tenant)] = (now, value)
        return value

    async def rollup_sizes(self, tenant: str) -> dict[str, int]:
        """Rows per rollup table of the tenant (cached briefly; drives the planner's choice)."""
        db = database_for(tenant)

        async def read() -> dict[str, int]:
            tables = [r.table for r in ROLLUPS]
            sql = (
                "SELECT table, sum(rows) FROM system.parts WHERE active AND database = {db:String} "
                "AND table IN {t:Array(String)} GROUP BY table"
            )
            rows = await self.ch.run(lambda c: c.query(sql, parameters={"db": db, "t": tables}).result_rows)
            return {str(t): int(n) for t, n in rows}

        return await self._fact("sizes", tenant, read)

    async def promoted(self, tenant: str) -> dict[str, str]:
        """The tenant's promoted tag keys -> columns (cached like the sizes; see ``cloudops tags``)."""
        return await self._fact("promoted", tenant, lambda: asyncio.to_thread(promoted_tags, self.ch, tenant))

    def forget(self, tenant: str) -> None:
        """Drop what is cached about the tenant's tables (after a migration or a tag promotion)."""
        self._table_facts = {k: v for k, v in self._table_facts.items() if k[1] != tenant}

    async def plan(self, tenant: str, query: Query, *, allow_rollups: bool = True) -> Plan:
        sizes = await self.rollup_sizes(tenant) if allow_rollups else {}
        promoted = await self.promoted(tenant) if query.tag_keys() else {}
        return plan_query(query, database_for(tenant), sizes, allow_rollups=allow_rollups, promoted=promoted)

    async def run(
        self, tenant: str, query: Query, *, allow_rollups: bool = True, use_cache: bool = True
    ) -> QueryResult:
        """Answer ``query`` for ``tenant``: from the cache if the data has not changed, else ClickHouse."""
        started = time.perf_counter()
        version = 0
        key = f"{query.fingerprint()}{'' if allow_rollups else ':raw'}"
        if self.cache is not None and use_cache:
            version, payload = await self.cache.get(tenant, key)
            if payload is not None:
                plan = Plan(payload["source"], "cache hit", payload["sql"], {}, payload["columns"])
                rows = _decode(payload["columns"], payload["rows"])
                return QueryResult(payload["columns"], rows, plan, True, time.perf_counter() - started)
        plan = await self.plan(tenant, query, allow_rollups=allow_rollups)
        result = await self.ch.run(lambda c: c.query(plan.sql, parameters=plan.parameters))
        rows = [tuple(r) for r in result.result_rows]
        if self.cache is not None and use_cache:
            payload = {"source": plan.source, "sql": plan.sql, "columns": plan.columns, "rows": _encode(rows)}
            await self.cache.set(tenant, version, key, payload)
        return QueryResult(plan.columns, rows, plan, False, time.perf_counter() - started)
