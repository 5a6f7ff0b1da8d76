"""The ``costs`` subgraph: cost questions and ``CostSeries`` (entity keyed by ``resourceId``).

Other subgraphs reference ``CostSeries`` by resource id (a ``Recommendation`` resolves the
cost of its resource here). Series of many resources are fetched by one DataLoader batch:
one ClickHouse query (or cache hit) per request and range, never one per resource.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import strawberry
from pydantic import ValidationError
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from cloudops.api.graphql.context import GqlContext, as_graphql_error
from cloudops.service.context import InvalidInput
from cloudops.service.costs import CostPoint as Point
from cloudops.sinks.clickhouse.planner import Filter
from cloudops.sinks.clickhouse.planner import Query as CostQuery

__all__ = ["schema_parts"]

_SCOPE = "costs:read"


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, datetime | date):
        return v.isoformat()
    return str(v)


@strawberry.type(description="One point of a resource's cost: money as decimal strings.")
class CostPoint:
    period: date
    billed_cost: str
    effective_cost: str
    currency: str


@strawberry.input(description="A filter: dimension in (or not in) values. '' matches null.")
class CostFilterInput:
    dimension: str
    values: list[str]
    exclude: bool = False


@strawberry.input(description="The typed cost question (see GET /v1/costs).")
class CostQueryInput:
    metrics: list[str] = strawberry.field(default_factory=lambda: ["BilledCost"])
    group_by: list[str] = strawberry.field(default_factory=list)
    filters: list[CostFilterInput] = strawberry.field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    granularity: str = "total"
    top_n: int | None = None


@strawberry.type(description="A cost answer: rows of decimal strings in column order.")
class CostAnswer:
    columns: list[str]
    rows: list[list[str | None]]
    data_version: int
    cached: bool
    source: str


@strawberry.type(description="What the planner would run.")
class CostPlan:
    source: str
    reason: str
    sql: str


async def _load_series(ctx: GqlContext, keys: list[tuple[str, str, datetime | None, datetime | None]]) -> list[Any]:
    caller = await ctx.caller(_SCOPE)
    out: dict[tuple[str, str, datetime | None, datetime | None], list[Point]] = {}
    groups: dict[tuple[str, datetime | None, datetime | None], list[str]] = {}
    for rid, grain, start, end in keys:
        groups.setdefault((grain, start, end), []).append(rid)
    for (grain, start, end), ids in groups.items():
        try:
            series = await ctx.state.costs.series(caller, ids, start=start, end=end, granularity=grain)
        except Exception as exc:
            raise as_graphql_error(exc) from exc
        for rid in ids:
            out[(rid, grain, start, end)] = series.get(rid, [])
    return [out[k] for k in keys]


@strawberry.federation.type(keys=["resourceId"], description="The cost of one resource over time.")
class CostSeries:
    resource_id: strawberry.ID

    @strawberry.field(description="Points by month (or day), oldest first.")
    async def points(
        self,
        info: Info[GqlContext, None],
        granularity: str = "month",
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[CostPoint]:
        ctx = info.context
        loader: DataLoader[tuple[str, str, datetime | None, datetime | None], list[Point]] = ctx.loader(
            "cost_series", lambda: DataLoader(load_fn=lambda keys: _load_series(ctx, list(keys)))
        )
        if granularity not in ("day", "month"):
            raise as_graphql_error(InvalidInput("granularity must be day or month"))
        points = await loader.load((str(self.resource_id), granularity, start, end))
        return [
            CostPoint(
                period=p.period,
                billed_cost=str(p.billed_cost),
                effective_cost=str(p.effective_cost),
                currency=p.currency,
            )
            for p in points
        ]

    @classmethod
    def resolve_reference(cls, **representation: Any) -> CostSeries:
        return cls(resource_id=strawberry.ID(str(representation["resourceId"])))


def _query(q: CostQueryInput) -> CostQuery:
    try:
        return CostQuery.model_validate(
            {
                "metrics": tuple(q.metrics),
                "group_by": tuple(q.group_by),
                "filters": tuple(
                    Filter(dimension=f.dimension, op="not_in" if f.exclude else "in", values=tuple(f.values))
                    for f in q.filters
                ),
                "start": q.start,
                "end": q.end,
                "granularity": q.granularity,
                "top_n": q.top_n,
            }
        )
    except ValidationError as exc:
        raise as_graphql_error(InvalidInput("invalid query: " + "; ".join(e["msg"] for e in exc.errors()))) from None


@strawberry.type
class Query:
    @strawberry.field(description="Ask a cost question (the planner picks a rollup; the cache answers repeats).")
    async def costs(self, info: Info[GqlContext, None], query: CostQueryInput, raw: bool = False) -> CostAnswer:
        ctx = info.context
        caller = await ctx.caller(_SCOPE)
        try:
            answer = await ctx.state.costs.query(caller, _query(query), raw=raw)
        except Exception as exc:
            raise as_graphql_error(exc) from exc
        r = answer.result
        return CostAnswer(
            columns=r.columns,
            rows=[[_text(v) for v in row] for row in r.rows],
            data_version=answer.data_version,
            cached=r.cached,
            source="cache" if r.cached else r.plan.source,
        )

    @strawberry.field(description="The plan a question would run (runs nothing).")
    async def explain_costs(self, info: Info[GqlContext, None], query: CostQueryInput, raw: bool = False) -> CostPlan:
        ctx = info.context
        caller = await ctx.caller(_SCOPE)
        try:
            plan = await ctx.state.costs.explain(caller, _query(query), raw=raw)
        except Exception as exc:
            raise as_graphql_error(exc) from exc
        return CostPlan(source=plan.source, reason=plan.reason, sql=plan.sql)

    @strawberry.field(description="The cost series of one resource.")
    def cost_series(self, resource_id: strawberry.ID) -> CostSeries:
        return CostSeries(resource_id=resource_id)


def schema_parts() -> dict[str, Any]:
    """Query type and entity types of the subgraph."""
    return {"query": Query, "types": [CostSeries]}
