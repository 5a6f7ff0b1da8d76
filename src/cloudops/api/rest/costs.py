"""``/v1/costs``: the typed cost query (metrics, group-by incl. tags, filters, range, granularity,
top-N) answered by the planner through the Redis cache, as JSON or CSV, with ``explain``.

A cost answer's ETag is the tenant's data version (plus the query and format): it changes
exactly when a load lands, so ``If-None-Match`` answers 304 without running anything while
the data is unchanged. No ETag without Redis (no data version to stand on).
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from pydantic import ValidationError

from cloudops.api.rest.models import CostAnswerOut, PlanOut
from cloudops.api.state import authorized, state_of
from cloudops.service.context import Caller, InvalidInput
from cloudops.service.costs import CostAnswer
from cloudops.sinks.clickhouse.planner import Filter
from cloudops.sinks.clickhouse.planner import Query as CostQuery

__all__ = ["answer_rows", "router"]

router = APIRouter(tags=["costs"])
Reader = Annotated[Caller, Depends(authorized("costs:read"))]
Format = Literal["json", "csv"]

_CSV = "text/csv"
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {_CSV: {"schema": {"type": "string"}}}, "description": "The answer (JSON or CSV)."},
    304: {"description": "Not modified: the tenant's data version is the one in If-None-Match."},
}


def _plain(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, datetime | date):
        return v.isoformat()
    return v


def answer_rows(answer: CostAnswer) -> list[dict[str, Any]]:
    """Rows as JSON-ready objects (money as decimal strings)."""
    cols = answer.result.columns
    return [{c: _plain(v) for c, v in zip(cols, r, strict=True)} for r in answer.result.rows]


def _filters(items: list[str], op: Literal["in", "not_in"]) -> list[Filter]:
    out = []
    for item in items:
        dim, sep, values = item.partition("=")
        if not sep:
            raise InvalidInput(f"filter {item!r}: write DIM=V1,V2")
        out.append(Filter(dimension=dim.strip(), op=op, values=tuple(v.strip() for v in values.split(","))))
    return out


def _query_from_params(
    metric: list[str] | None,
    by: list[str] | None,
    filter: list[str] | None,
    exclude: list[str] | None,
    start: datetime | None,
    end: datetime | None,
    granularity: str,
    top: int | None,
    order_by: str | None,
) -> CostQuery:
    return CostQuery.model_validate(
        {
            "metrics": tuple(metric or ["BilledCost"]),
            "group_by": tuple(by or []),
            "filters": tuple(_filters(filter or [], "in") + _filters(exclude or [], "not_in")),
            "start": start,
            "end": end,
            "granularity": granularity,
            "top_n": top,
            "order_by": order_by,
        }
    )


def _etag(version: int, query: CostQuery, raw: bool, fmt: str) -> str | None:
    if version <= 0:
        return None
    digest = hashlib.sha256(f"{query.fingerprint()}:{raw}:{fmt}".encode()).hexdigest()[:16]
    return f'"v{version}-{digest}"'


def _fmt(request: Request, fmt: Format | None) -> Format:
    if fmt is not None:
        return fmt
    return "csv" if _CSV in request.headers.get("accept", "") else "json"


async def _answer(request: Request, caller: Caller, query: CostQuery, raw: bool, fmt: Format | None) -> Response:
    costs = state_of(request).costs
    chosen = _fmt(request, fmt)
    version = await costs.data_version(caller)
    etag = _etag(version, query, raw, chosen)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"} if etag else {}
    if etag and etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    answer = await costs.query(caller, query, raw=raw, data_version=version)
    headers["X-Cloudops-Source"] = "cache" if answer.result.cached else answer.result.plan.source
    if chosen == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(answer.result.columns)
        writer.writerows([_plain(v) for v in r] for r in answer.result.rows)
        return Response(buf.getvalue(), media_type=_CSV, headers=headers)
    body = CostAnswerOut(
        columns=answer.result.columns,
        rows=answer_rows(answer),
        data_version=answer.data_version,
        cached=answer.result.cached,
        source=answer.result.plan.source,
        seconds=answer.result.seconds,
    )
    return Response(body.model_dump_json(), media_type="application/json", headers=headers)


@router.get("/v1/costs", response_model=CostAnswerOut, responses=_RESPONSES, summary="Ask a cost question")
async def get_costs(
    request: Request,
    caller: Reader,
    metric: Annotated[list[str] | None, Query(description="BilledCost (default), EffectiveCost, ... (repeat).")] = None,
    by: Annotated[list[str] | None, Query(description="Group-by dimension (repeat); tag:<key> for a tag.")] = None,
    filter: Annotated[list[str] | None, Query(description="DIM=V1,V2 (repeat).")] = None,
    exclude: Annotated[list[str] | None, Query(description="DIM=V1,V2: leave these out (repeat).")] = None,
    start: Annotated[datetime | None, Query(alias="from", description="ChargePeriodStart >= (UTC).")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="ChargePeriodStart < (UTC).")] = None,
    granularity: Literal["total", "day", "month"] = "total",
    top: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    order_by: str | None = None,
    raw: Annotated[bool, Query(description="Skip rollups: answer from the raw table.")] = False,
    format: Format | None = None,
) -> Response:
    try:
        query = _query_from_params(metric, by, filter, exclude, start, end, granularity, top, order_by)
    except ValidationError as exc:
        raise InvalidInput("invalid query: " + "; ".join(e["msg"] for e in exc.errors())) from None
    return await _answer(request, caller, query, raw, format)


@router.post("/v1/costs/query", response_model=CostAnswerOut, responses=_RESPONSES, summary="Ask (typed body)")
async def post_costs(
    request: Request,
    caller: Reader,
    query: Annotated[CostQuery, Body()],
    raw: bool = False,
    format: Format | None = None,
) -> Response:
    return await _answer(request, caller, query, raw, format)


@router.post("/v1/costs/explain", response_model=PlanOut, summary="The plan a query would run (runs nothing)")
async def explain(request: Request, caller: Reader, query: Annotated[CostQuery, Body()], raw: bool = False) -> PlanOut:
    plan = await state_of(request).costs.explain(caller, query, raw=raw)
    params = {
        k: [_plain(x) for x in v] if isinstance(v, list | tuple) else _plain(v) for k, v in plan.parameters.items()
    }
    return PlanOut(source=plan.source, reason=plan.reason, sql=plan.sql, parameters=params, columns=plan.columns)
