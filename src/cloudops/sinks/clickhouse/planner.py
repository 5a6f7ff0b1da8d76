"""The typed analytics query, and the planner that compiles it to SQL over the smallest exact source.

Pure: no I/O. The planner is given the rollup sizes (rows) and returns a :class:`Plan`
(SQL with bound parameters, the table chosen and why). User input never becomes SQL
text: dimensions come from an allow-list, tag keys and filter values are parameters.

Exactness: a rollup answers a query only when it has every dimension the query groups
or filters by, a grain at least as fine as the query's, and a time range aligned to its
grain (midnight UTC for day rollups, first of the month for month rollups). Otherwise
the raw ``focus`` table answers. Nulls read as ``''`` everywhere, so rollups (whose
keys cannot be null) and the raw table give identical rows.

Raw-only extensions: ``ext:<key>`` dimensions read one key of the ``x_Extensions`` JSON
column (``JSONExtractString``, the key a bound parameter, ``''`` when absent; keys must
look like ``x_Name``), and the ``PricingQuantity`` metric; no rollup has either, so a
query using them is always answered by the raw table.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cloudops.errors import ConfigError

__all__ = [
    "DIMENSIONS",
    "EXT_PREFIX",
    "METRICS",
    "RESOURCE_DIMENSIONS",
    "ROLLUPS",
    "ROLLUP_DIMENSIONS",
    "TAG_DIMENSIONS",
    "Filter",
    "Plan",
    "Query",
    "Rollup",
    "plan_query",
]

Metric = Literal[
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "ConsumedQuantity",
    "Savings",
    "Rows",
    "PricingQuantity",
]
METRICS: tuple[str, ...] = (
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "ConsumedQuantity",
    "Savings",
    "Rows",
    "PricingQuantity",
)
_METRIC_SQL = {
    "BilledCost": ("sum(BilledCost)", "sum(BilledCost)"),
    "EffectiveCost": ("sum(EffectiveCost)", "sum(EffectiveCost)"),
    "ListCost": ("sum(ListCost)", "sum(ListCost)"),
    "ContractedCost": ("sum(ContractedCost)", "sum(ContractedCost)"),
    "ConsumedQuantity": ("sum(ifNull(ConsumedQuantity, 0))", "sum(ConsumedQuantity)"),
    "Savings": ("sum(ListCost) - sum(EffectiveCost)", "sum(ListCost) - sum(EffectiveCost)"),
    "Rows": ("toUInt64(count())", "toUInt64(sum(Rows))"),
    "PricingQuantity": ("sum(ifNull(PricingQuantity, 0))", ""),
}
_RAW_ONLY_METRICS = frozenset({"PricingQuantity"})
ROLLUP_DIMENSIONS = (
    "ProviderName",
    "BillingAccountId",
    "SubAccountId",
    "ServiceCategory",
    "ServiceName",
    "RegionId",
    "ChargeCategory",
    "PricingCategory",
    "CommitmentDiscountType",
    "CommitmentDiscountStatus",
    "ConsumedUnit",
    "BillingCurrency",
)
RESOURCE_DIMENSIONS = (
    "ProviderName",
    "BillingAccountId",
    "SubAccountId",
    "ServiceName",
    "RegionId",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "BillingCurrency",
)
TAG_DIMENSIONS = ("ProviderName", "BillingAccountId", "SubAccountId", "ServiceName", "BillingCurrency")
_RAW_ONLY = (
    "AvailabilityZone",
    "BillingAccountName",
    "SubAccountName",
    "ChargeFrequency",
    "ChargeClass",
    "CommitmentDiscountId",
    "CommitmentDiscountCategory",
    "PricingUnit",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "x_Provider",
    "x_Source",
    "x_SourceFormat",
    "x_FileId",
)
DIMENSIONS: tuple[str, ...] = tuple(dict.fromkeys(ROLLUP_DIMENSIONS + RESOURCE_DIMENSIONS + _RAW_ONLY))
TAG_PREFIX = "tag:"
EXT_PREFIX = "ext:"
_EXT_KEY = re.compile(r"x_[A-Za-z][A-Za-z0-9_]{0,62}")


def _check_dim(dim: str) -> str:
    if dim.startswith(EXT_PREFIX):
        if not _EXT_KEY.fullmatch(dim[len(EXT_PREFIX) :]):
            raise ValueError(f"invalid extension dimension {dim!r}: the key must look like x_Name")
        return dim
    if dim.startswith(TAG_PREFIX):
        key = dim[len(TAG_PREFIX) :]
        if not key or len(key) > 256:
            raise ValueError(f"invalid tag dimension {dim!r}")
        return dim
    if dim not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dim!r}: choose from {', '.join(DIMENSIONS)}, tag:<key> or ext:<x_key>")
    return dim


class Filter(BaseModel):
    """``dimension`` value in (or not in) ``values``. ``''`` matches null/missing."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    dimension: str
    op: Literal["in", "not_in"] = "in"
    values: tuple[str, ...] = Field(min_length=1)

    @field_validator("dimension")
    @classmethod
    def _dim(cls, v: str) -> str:
        return _check_dim(v)


class Query(BaseModel):
    """An analytics question: metrics grouped by dimensions, filtered, over a time range."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    metrics: tuple[Metric, ...] = ("BilledCost",)
    group_by: tuple[str, ...] = ()
    filters: tuple[Filter, ...] = ()
    start: datetime | None = Field(None, description="ChargePeriodStart >= start (UTC).")
    end: datetime | None = Field(None, description="ChargePeriodStart < end (UTC).")
    granularity: Literal["total", "day", "month"] = "total"
    top_n: int | None = Field(None, ge=1, le=100_000)
    order_by: Metric | None = Field(None, description="Metric to sort by, descending (default: the first).")

    @field_validator("group_by")
    @classmethod
    def _dims(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for d in v:
            _check_dim(d)
        if len(set(v)) != len(v):
            raise ValueError("a dimension appears twice in group_by")
        return v

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        if v is None:
            return None
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)

    @model_validator(mode="after")
    def _range(self) -> Query:
        if self.start and self.end and self.end <= self.start:
            raise ValueError("end must be after start")
        if not self.metrics:
            raise ValueError("at least one metric")
        return self

    def normalized(self) -> str:
        """Canonical JSON of the query (filter order and value order do not matter)."""
        data = self.model_dump(mode="json")
        data["filters"] = sorted(
            ({**f, "values": sorted(f["values"])} for f in data["filters"]), key=lambda f: (f["dimension"], f["op"])
        )
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    def fingerprint(self) -> str:
        return hashlib.sha256(self.normalized().encode()).hexdigest()[:32]

    def tag_keys(self) -> set[str]:
        dims = [*self.group_by, *(f.dimension for f in self.filters)]
        return {d[len(TAG_PREFIX) :] for d in dims if d.startswith(TAG_PREFIX)}

    def ext_keys(self) -> set[str]:
        """``x_Extensions`` keys the query groups or filters by (raw table only)."""
        dims = [*self.group_by, *(f.dimension for f in self.filters)]
        return {d[len(EXT_PREFIX) :] for d in dims if d.startswith(EXT_PREFIX)}


@dataclass(frozen=True, slots=True)
class Rollup:
    table: str
    grain: Literal["day", "month"]
    time_column: str
    dimensions: frozenset[str]
    tag: bool = False
    #: For a tag rollup, the rollup of all rows at the same grain (untagged = total - tagged).
    totals: str | None = None


ROLLUPS: tuple[Rollup, ...] = (
    Rollup("rollup_month", "month", "Month", frozenset(ROLLUP_DIMENSIONS)),
    Rollup("rollup_day", "day", "Day", frozenset(ROLLUP_DIMENSIONS)),
    Rollup("rollup_resource_month", "month", "Month", frozenset(RESOURCE_DIMENSIONS)),
    Rollup("rollup_tag_month", "month", "Month", frozenset(TAG_DIMENSIONS), tag=True, totals="rollup_month"),
    Rollup("rollup_tag_day", "day", "Day", frozenset(TAG_DIMENSIONS), tag=True, totals="rollup_day"),
)


@dataclass
class Plan:
    """What the planner chose, and the SQL to run."""

    source: str
    reason: str
    sql: str
    parameters: dict[str, Any] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)

    def explain(self) -> str:
        return f"source: {self.source}\nreason: {self.reason}\nsql:\n{self.sql}\nparameters: {self.parameters}"


def _aligned(ts: datetime | None, grain: str) -> bool:
    if ts is None:
        return True
    midnight = ts.hour == ts.minute == ts.second == ts.microsecond == 0
    return midnight and (grain == "day" or ts.day == 1)


def _rejects(r: Rollup, q: Query) -> str | None:
    """Why rollup ``r`` cannot answer ``q`` exactly (None if it can)."""
    dims = {*q.group_by, *(f.dimension for f in q.filters)}
    if q.ext_keys():
        return "query uses x_Extensions keys"
    raw_only = sorted(_RAW_ONLY_METRICS.intersection(q.metrics))
    if raw_only:
        return f"lacks metric {', '.join(raw_only)}"
    tags = q.tag_keys()
    if tags and not r.tag:
        return "query uses tags"
    if r.tag and len(tags) != 1:
        return "tag rollup answers queries on exactly one tag key"
    missing = sorted(d for d in dims if not d.startswith(TAG_PREFIX) and d not in r.dimensions)
    if missing:
        return f"lacks {', '.join(missing)}"
    if q.granularity == "day" and r.grain == "month":
        return "grain too coarse"
    if not (_aligned(q.start, r.grain) and _aligned(q.end, r.grain)):
        return f"time range not aligned to {r.grain}s"
    return None


_PROMOTED_COLUMN = re.compile(r"^tag_[A-Za-z0-9_]{1,80}$")


class _Params:
    """Bound parameters of one statement, and what the compiler knows of the tenant's table."""

    def __init__(self, promoted: Mapping[str, str] | None = None) -> None:
        self.values: dict[str, Any] = {}
        #: tag key -> its promoted column in ``focus`` (see :mod:`cloudops.sinks.clickhouse.tags`).
        self.promoted = dict(promoted or {})

    def add(self, value: Any, ch_type: str) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"{{{name}:{ch_type}}}"


def _dim_expr(dim: str, raw: bool, params: _Params) -> str:
    if dim.startswith(EXT_PREFIX):
        if not raw:
            raise AssertionError("x_Extensions dimensions exist only in the raw table")
        return f"JSONExtractString(ifNull(x_Extensions, ''), {params.add(dim[len(EXT_PREFIX) :], 'String')})"
    if dim.startswith(TAG_PREFIX):
        if raw:
            key = dim[len(TAG_PREFIX) :]
            if key in params.promoted:  # a promoted key has its own column: no JSON parsing per row
                return f"`{params.promoted[key]}`"
            return f"JSONExtractString(ifNull(Tags, ''), {params.add(key, 'String')})"
        return "TagValue"
    return f"ifNull(toString(`{dim}`), '')" if raw else f"`{dim}`"


def _where(q: Query, raw: bool, time_col: str, params: _Params, *, skip_tag_filters: bool = False) -> list[str]:
    where: list[str] = []
    if raw:
        ts_type = "DateTime64(6, 'UTC')"
        if q.start:
            where.append(f"ChargePeriodStart >= {params.add(q.start, ts_type)}")
        if q.end:
            where.append(f"ChargePeriodStart < {params.add(q.end, ts_type)}")
    else:
        if q.start:
            where.append(f"{time_col} >= {params.add(q.start.date(), 'Date')}")
        if q.end:
            where.append(f"{time_col} < {params.add(q.end.date(), 'Date')}")
    for f in q.filters:
        if skip_tag_filters and f.dimension.startswith(TAG_PREFIX):
            continue
        expr = _dim_expr(f.dimension, raw, params)
        op = "IN" if f.op == "in" else "NOT IN"
        where.append(f"{expr} {op} {params.add(list(f.values), 'Array(String)')}")
    return where


def _period(q: Query, raw: bool, r: Rollup | None) -> str | None:
    if q.granularity == "total":
        return None
    if raw:
        return "toDate(ChargePeriodStart)" if q.granularity == "day" else "toDate(toStartOfMonth(ChargePeriodStart))"
    assert r is not None
    if q.granularity == "day" or r.grain == "month":
        return r.time_column
    return f"toStartOfMonth({r.time_column})"


def _finish(q: Query, select: list[str], group: list[str], inner: str, having: str | None = None) -> str:
    order_metric = f"m_{q.order_by or q.metrics[0]}"
    sql = f"SELECT {', '.join(select)}\nFROM {inner}"
    if group:
        sql += f"\nGROUP BY {', '.join(group)}"
    if having:
        sql += f"\nHAVING {having}"
    order = ["Period"] if q.granularity != "total" else []
    if q.top_n is not None or not order:
        order = [*order, f"`{order_metric}` DESC"]
    order += [f"`d_{i}`" for i in range(len(q.group_by))]
    sql += f"\nORDER BY {', '.join(order)}"
    if q.top_n is not None:
        sql += f"\nLIMIT {int(q.top_n)}"
    return sql


@dataclass(frozen=True, slots=True)
class _Segment:
    """One rollup answering one part of the query's time range."""

    rollup: Rollup
    start: datetime | None
    end: datetime | None


_SUM_COLUMNS = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "ConsumedQuantity", "Rows")


def _segment_where(q: Query, seg: _Segment, params: _Params, *, skip_tag_filters: bool = False) -> list[str]:
    bounded = q.model_copy(update={"start": seg.start, "end": seg.end})
    return _where(bounded, False, seg.rollup.time_column, params, skip_tag_filters=skip_tag_filters)


def _compile(
    q: Query, db: str, segments: list[_Segment] | None, promoted: Mapping[str, str] | None = None
) -> tuple[str, dict[str, Any], list[str]]:
    """SQL for ``q`` over the raw table (``segments`` None) or over rollup segments.

    Several segments (a day rollup for the partial months at the edges, its month twin for
    the whole months between) are read as one ``UNION ALL`` with the day rollup's time column.
    """
    raw = segments is None
    r = segments[0].rollup if segments else None
    params = _Params(promoted)
    period = _period(q, raw, r)
    columns = (["Period"] if period else []) + list(q.group_by) + list(q.metrics)
    if segments is not None and segments[0].rollup.tag:
        return _compile_tag(q, db, segments, period, params, columns)
    select = [f"{period} AS Period"] if period else []
    select += [f"{_dim_expr(d, raw, params)} AS `d_{i}`" for i, d in enumerate(q.group_by)]
    select += [f"{_METRIC_SQL[m][1 if segments else 0]} AS `m_{m}`" for m in q.metrics]
    group = (["Period"] if period else []) + [f"`d_{i}`" for i in range(len(q.group_by))]
    if segments is None:
        where = _where(q, True, "", params)
        inner = f"{db}.focus" + (f"\nWHERE {' AND '.join(where)}" if where else "")
    elif len(segments) == 1:
        where = _segment_where(q, segments[0], params)
        inner = f"{db}.{segments[0].rollup.table}" + (f"\nWHERE {' AND '.join(where)}" if where else "")
    else:
        assert r is not None
        cols = ", ".join([*(f"`{d}`" for d in q.group_by), *_SUM_COLUMNS])
        parts = []
        for seg in segments:
            where = _segment_where(q, seg, params)
            parts.append(
                f"SELECT {seg.rollup.time_column} AS {r.time_column}, {cols} FROM {db}.{seg.rollup.table}"
                + (f" WHERE {' AND '.join(where)}" if where else "")
            )
        inner = "(\n  " + "\n  UNION ALL\n  ".join(parts) + "\n)"
    return _finish(q, select, group, inner), params.values, columns


def _tag_part(table: str, dims_sql: str, tag_value: str, sign: str, where: list[str]) -> str:
    metrics = ", ".join(f"toInt64({sign}{m}) AS u_{m}" if m == "Rows" else f"{sign}{m} AS u_{m}" for m in _SUM_COLUMNS)
    return f"SELECT {dims_sql}, {tag_value} AS TagValue, {metrics} FROM {table}" + (
        f" WHERE {' AND '.join(where)}" if where else ""
    )


def _compile_tag(
    q: Query, db: str, segments: list[_Segment], period: str | None, params: _Params, columns: list[str]
) -> tuple[str, dict[str, Any], list[str]]:
    """Tag rollup: tagged rows from the tag rollup, untagged = total (its ``totals`` rollup) - tagged."""
    (key,) = q.tag_keys()
    tag_dim = TAG_PREFIX + key
    key_param = params.add(key, "String")
    value_filter = next((f for f in q.filters if f.dimension == tag_dim), None)
    others = [d for d in q.group_by if d != tag_dim]
    time_column = segments[0].rollup.time_column
    wants_untagged = value_filter is None or (("" in value_filter.values) == (value_filter.op == "in"))
    parts: list[str] = []
    for seg in segments:
        r = seg.rollup
        assert r.totals is not None
        base_where = _segment_where(q, seg, params, skip_tag_filters=True)
        time_sql = r.time_column if r.time_column == time_column else f"{r.time_column} AS {time_column}"
        dims_sql = ", ".join([time_sql, *[f"`{d}`" for d in others]])

        key_where = [*base_where, f"TagKey = {key_param}"]
        parts.append(_tag_part(f"{db}.{r.table}", dims_sql, "TagValue", "", key_where))
        if wants_untagged:
            parts.append(_tag_part(f"{db}.{r.totals}", dims_sql, "''", "", base_where))
            parts.append(_tag_part(f"{db}.{r.table}", dims_sql, "''", "-", key_where))
    inner = "(\n  " + "\n  UNION ALL\n  ".join(parts) + "\n)"
    if value_filter is not None:
        op = "IN" if value_filter.op == "in" else "NOT IN"
        inner += f"\nWHERE TagValue {op} {params.add(list(value_filter.values), 'Array(String)')}"
    select = [f"{period} AS Period"] if period else []
    select += [f"{'TagValue' if d == tag_dim else f'`{d}`'} AS `d_{i}`" for i, d in enumerate(q.group_by)]
    select += [f"{_METRIC_SQL[m][1].replace('sum(', 'sum(u_')} AS `m_{m}`" for m in q.metrics]
    group = (["Period"] if period else []) + [f"`d_{i}`" for i in range(len(q.group_by))]
    # Groups whose tagged and untagged parts cancel exactly have no rows behind them.
    sql = _finish(q, select, group, inner, having="sum(u_Rows) != 0")
    return sql, params.values, columns


def _month_start(ts: datetime, *, up: bool) -> datetime:
    """The first of ``ts``'s month (``up``: of the next month unless ``ts`` is already one)."""
    first = ts.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if up and first != ts:
        first = first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)
    return first


def _split(q: Query, r: Rollup, candidates: list[Rollup]) -> list[_Segment] | None:
    """Segments that read whole months of a day-grain query range from ``r``'s month twin.

    Exact because a month rollup is the day rollup summed by month. Only for totals and
    month periods (a day period needs day rows), when the range covers at least one whole
    month and is day-aligned; None when there is nothing to gain.
    """
    if r.grain != "day" or q.granularity == "day" or not (_aligned(q.start, "day") and _aligned(q.end, "day")):
        return None
    twin = next((c for c in candidates if c.grain == "month" and c.tag == r.tag and c.dimensions == r.dimensions), None)
    if twin is None:
        return None
    lo = _month_start(q.start, up=True) if q.start else None
    hi = _month_start(q.end, up=False) if q.end else None
    if lo is not None and hi is not None and lo >= hi:
        return None
    middle = q.model_copy(update={"start": lo, "end": hi})
    if _rejects(twin, middle) is not None:
        return None
    segments = []
    if q.start is not None and lo is not None and q.start < lo:
        segments.append(_Segment(r, q.start, lo))
    segments.append(_Segment(twin, lo, hi))
    if q.end is not None and hi is not None and hi < q.end:
        segments.append(_Segment(r, hi, q.end))
    return segments


def plan_query(
    q: Query,
    db: str,
    sizes: dict[str, int] | None = None,
    *,
    allow_rollups: bool = True,
    promoted: Mapping[str, str] | None = None,
) -> Plan:
    """Choose the smallest exact source for ``q`` in database ``db`` and compile it.

    ``sizes`` gives rows per rollup table (smaller wins); unknown sizes rank by grain
    (month before day). ``allow_rollups=False`` forces the raw table (for comparison).
    ``promoted`` maps tag keys to their promoted columns in ``focus``: the raw table reads
    those instead of parsing ``Tags``.
    """
    if not db.startswith("tenant_") or not db.replace("_", "").isalnum():
        raise ConfigError(f"invalid tenant database {db!r}")
    # Only well-formed column names reach the SQL (and the explanation names the same ones).
    promoted = {k: c for k, c in (promoted or {}).items() if _PROMOTED_COLUMN.match(c)}
    reasons: list[str] = []
    if allow_rollups:
        order = sorted(
            ROLLUPS,
            key=lambda r: (sizes or {}).get(r.table, 10**12 if r.grain == "day" else 10**11),
        )
        for r in order:
            why = _rejects(r, q)
            if why is None:
                skipped = f" (skipped: {'; '.join(reasons)})" if reasons else ""
                split = _split(q, r, order)
                if split is not None:
                    sql, params, cols = _compile(q, db, split)
                    source = "+".join(dict.fromkeys(seg.rollup.table for seg in split))
                    why_split = (
                        "whole months from the month rollup, partial months at the edges from the day rollup"
                        if len(split) > 1
                        else "the range is whole months: the month rollup"
                    )
                    return Plan(source, f"{why_split}{skipped}", sql, params, cols)
                sql, params, cols = _compile(q, db, [_Segment(r, q.start, q.end)])
                return Plan(r.table, f"smallest exact rollup{skipped}", sql, params, cols)
            reasons.append(f"{r.table}: {why}")
    sql, params, cols = _compile(q, db, None, promoted)
    reason = "rollups disabled" if not allow_rollups else "no rollup answers exactly: " + "; ".join(reasons)
    used = sorted(c for k, c in promoted.items() if k in q.tag_keys())
    if used:
        reason += f"; promoted tag columns {', '.join(used)}"
    return Plan("focus", reason, sql, params, cols)
