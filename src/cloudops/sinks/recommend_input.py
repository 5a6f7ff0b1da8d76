"""The recommenders' input: a tenant's usage rows for a billing month, fetched through the query layer.

One typed :class:`~cloudops.sinks.clickhouse.planner.Query` (see :func:`usage_query`)
groups the tenant's Usage and Purchase rows by month (of ``ChargePeriodStart``), resource
and usage detail, with the AWS usage type, operation and product code read from
``x_Extensions`` (``ext:`` dimensions: the raw ``focus`` table answers, every value a
bound parameter). :func:`fetch_usage` runs it with :meth:`Analytics.run` (planner, Redis
cache when configured, ClickHouse) and returns the rows as
:class:`cloudops.recommend.UsageRow` together with the query's normalised text, which
becomes every recommendation's evidence.

Blocks nothing (async); raises :class:`~cloudops.errors.TransientError` when ClickHouse
is unreachable, ValueError for an invalid tenant id or period label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from cloudops.recommend import RecommendContext, UsageRow, month_label, parse_month
from cloudops.sinks.analytics import Analytics
from cloudops.sinks.clickhouse.planner import Filter, Metric, Query

__all__ = [
    "DEFAULT_HISTORY_MONTHS",
    "USAGE_DIMENSIONS",
    "UsageInput",
    "fetch_usage",
    "file_months",
    "rows_from_result",
    "usage_query",
]

DEFAULT_HISTORY_MONTHS = 2
"""Months before the period fetched as history (the log-retention estimate needs two)."""

# UsageRow field -> query dimension (order = group_by order).
USAGE_DIMENSIONS: tuple[tuple[str, str], ...] = (
    ("provider", "x_Provider"),
    ("billing_account_id", "BillingAccountId"),
    ("sub_account_id", "SubAccountId"),
    ("resource_id", "ResourceId"),
    ("resource_name", "ResourceName"),
    ("resource_type", "ResourceType"),
    ("service_name", "ServiceName"),
    ("service_category", "ServiceCategory"),
    ("region_id", "RegionId"),
    ("charge_category", "ChargeCategory"),
    ("pricing_category", "PricingCategory"),
    ("commitment_discount_id", "CommitmentDiscountId"),
    ("commitment_discount_status", "CommitmentDiscountStatus"),
    ("commitment_discount_type", "CommitmentDiscountType"),
    ("usage_type", "ext:x_UsageType"),
    ("sku_meter", "SkuMeter"),
    ("operation", "ext:x_Operation"),
    ("product_code", "ext:x_ProductCode"),
    ("sku_id", "SkuId"),
    ("pricing_unit", "PricingUnit"),
    ("consumed_unit", "ConsumedUnit"),
    ("currency", "BillingCurrency"),
)
# UsageRow field -> metric.
_METRICS: tuple[tuple[str, Metric], ...] = (
    ("consumed_quantity", "ConsumedQuantity"),
    ("pricing_quantity", "PricingQuantity"),
    ("effective_cost", "EffectiveCost"),
    ("list_cost", "ListCost"),
    ("billed_cost", "BilledCost"),
)


def _shift(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def usage_query(period: str, *, history_months: int = DEFAULT_HISTORY_MONTHS) -> Query:
    """The evidence query for billing month ``period`` (``YYYY-MM``) and ``history_months`` before it.

    Pure. Usage and Purchase charges only (tax, credits and adjustments name no resource
    change); the time range is whole months of ``ChargePeriodStart``.
    """
    if history_months < 0:
        raise ValueError("history_months must be >= 0")
    month = parse_month(period)
    return Query(
        metrics=tuple(m for _, m in _METRICS),
        group_by=tuple(d for _, d in USAGE_DIMENSIONS),
        filters=(Filter(dimension="ChargeCategory", values=("Usage", "Purchase")),),
        start=_midnight(_shift(month, -history_months)),
        end=_midnight(_shift(month, 1)),
        granularity="month",
    )


def _decimal(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _month(value: Any) -> date:
    if isinstance(value, datetime):
        return date(value.year, value.month, 1)
    if isinstance(value, date):
        return value.replace(day=1)
    return date.fromisoformat(str(value)[:10]).replace(day=1)


def rows_from_result(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[UsageRow]:
    """Result rows of :func:`usage_query` (columns ``Period``, its dimensions, its metrics) -> UsageRow.

    The usage detail is the AWS usage type when the row has one, else ``SkuMeter``.
    Raises ValueError when a column the query returns is missing.
    """
    expected = ["Period", *(d for _, d in USAGE_DIMENSIONS), *(m for _, m in _METRICS)]
    missing = [c for c in expected if c not in columns]
    if missing:
        raise ValueError(f"result lacks columns {missing}: not the usage query's result")
    pos = {c: i for i, c in enumerate(columns)}
    out: list[UsageRow] = []
    for r in rows:
        t = {f: str(r[pos[d]] or "") for f, d in USAGE_DIMENSIONS}
        m = {f: _decimal(r[pos[name]]) for f, name in _METRICS}
        out.append(
            UsageRow(
                month=_month(r[pos["Period"]]),
                provider=t["provider"],
                billing_account_id=t["billing_account_id"],
                sub_account_id=t["sub_account_id"],
                resource_id=t["resource_id"],
                resource_name=t["resource_name"],
                resource_type=t["resource_type"],
                service_name=t["service_name"],
                service_category=t["service_category"],
                region_id=t["region_id"],
                charge_category=t["charge_category"],
                pricing_category=t["pricing_category"],
                commitment_discount_id=t["commitment_discount_id"],
                commitment_discount_status=t["commitment_discount_status"],
                commitment_discount_type=t["commitment_discount_type"],
                usage_detail=t["usage_type"] or t["sku_meter"],
                operation=t["operation"],
                product_code=t["product_code"],
                sku_id=t["sku_id"],
                pricing_unit=t["pricing_unit"],
                consumed_unit=t["consumed_unit"],
                currency=t["currency"],
                consumed_quantity=m["consumed_quantity"],
                pricing_quantity=m["pricing_quantity"],
                effective_cost=m["effective_cost"],
                list_cost=m["list_cost"],
                billed_cost=m["billed_cost"],
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class UsageInput:
    """What :func:`fetch_usage` returns: the rows, the query's normalised text, and where they came from."""

    tenant: str
    period: str
    rows: list[UsageRow]
    query: str
    source: str  # table the planner chose (always "focus" for this query)
    cached: bool

    def context(self, found_at: datetime | None = None) -> RecommendContext:
        """The recommenders' context for these rows."""
        return RecommendContext(tenant=self.tenant, period=self.period, query=self.query, found_at=found_at)


async def fetch_usage(
    analytics: Analytics,
    tenant: str,
    period: str,
    *,
    history_months: int = DEFAULT_HISTORY_MONTHS,
    use_cache: bool = True,
) -> UsageInput:
    """Fetch the tenant's usage rows for ``period`` (plus history) via :meth:`Analytics.run`.

    Idempotent and read-only. Raises TransientError (ClickHouse unreachable), ValueError
    (bad tenant id or period).
    """
    query = usage_query(period, history_months=history_months)
    result = await analytics.run(tenant, query, use_cache=use_cache)
    return UsageInput(
        tenant=tenant,
        period=period,
        rows=rows_from_result(result.columns, result.rows),
        query=query.normalized(),
        source=result.plan.source,
        cached=result.cached,
    )


async def file_months(analytics: Analytics, tenant: str, file_id: str | None) -> list[str]:
    """The billing months (``YYYY-MM``, ascending) of a loaded file's rows (``file_id`` None: of all the tenant's rows).

    Read-only; raises like :func:`fetch_usage`.
    """
    filters = (Filter(dimension="x_FileId", values=(file_id,)),) if file_id is not None else ()
    query = Query(metrics=("Rows",), filters=filters, granularity="month")
    result = await analytics.run(tenant, query)
    return sorted({month_label(_month(r[0])) for r in result.rows})
