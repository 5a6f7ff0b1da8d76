"""Read side used by the loader's reconciliation and `cloudops query`.

Identifiers are never taken from user input as text: group-by columns are checked
against a fixed allow-list and values are bound as query parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from cloudops.errors import ConfigError
from cloudops.sinks.clickhouse.client import ClickHouse, database_for

__all__ = ["COST_DIMENSIONS", "CostRow", "FileLanded", "cost_by", "file_landed"]

COST_DIMENSIONS: tuple[str, ...] = (
    "ProviderName",
    "x_Provider",
    "BillingAccountId",
    "SubAccountId",
    "ServiceCategory",
    "ServiceName",
    "RegionId",
    "ChargeCategory",
    "PricingCategory",
    "BillingCurrency",
    "ResourceId",
    "x_SourceFormat",
    "x_FileId",
)


@dataclass(frozen=True, slots=True)
class CostRow:
    group: tuple[str | None, ...]
    billed_cost: Decimal
    effective_cost: Decimal
    rows: int


@dataclass(frozen=True, slots=True)
class FileLanded:
    rows: int  # FOCUS rows
    source_rows: int  # distinct source rows they came from
    totals: dict[str, Decimal]


def cost_by(
    ch: ClickHouse,
    tenant: str,
    by: list[str],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 50,
) -> list[CostRow]:
    """BilledCost and EffectiveCost grouped by ``by`` (allow-listed columns), largest first."""
    bad = [b for b in by if b not in COST_DIMENSIONS]
    if bad or not by:
        raise ConfigError(f"cannot group by {bad or by}: choose from {', '.join(COST_DIMENSIONS)}")
    db = database_for(tenant)
    cols = ", ".join(f"`{b}`" for b in by)
    where = ["1"]
    params: dict[str, object] = {"limit": limit}
    if start is not None:
        where.append("ChargePeriodStart >= {start:DateTime64(6, 'UTC')}")
        params["start"] = start
    if end is not None:
        where.append("ChargePeriodStart < {end:DateTime64(6, 'UTC')}")
        params["end"] = end
    sql = (
        f"SELECT {cols}, sum(BilledCost), sum(EffectiveCost), count() FROM {db}.focus "
        f"WHERE {' AND '.join(where)} GROUP BY {cols} ORDER BY sum(BilledCost) DESC LIMIT {{limit:UInt32}}"
    )
    result = ch.call(lambda c: c.query(sql, parameters=params))
    n = len(by)
    return [CostRow(tuple(r[:n]), Decimal(r[n]), Decimal(r[n + 1]), int(r[n + 2])) for r in result.result_rows]


async def file_landed(ch: ClickHouse, tenant: str, file_id: str) -> FileLanded:
    """FOCUS rows, distinct source rows and BilledCost per currency of one file, counted in ClickHouse."""
    db = database_for(tenant)
    sql = (
        f"SELECT BillingCurrency, count(), sum(BilledCost) FROM {db}.focus "
        "WHERE x_FileId = {fid:String} GROUP BY BillingCurrency"
    )
    params = {"fid": file_id}
    result = await ch.run(lambda c: c.query(sql, parameters=params))
    distinct_sql = f"SELECT uniqExact(x_RowNumber) FROM {db}.focus WHERE x_FileId = {{fid:String}}"
    distinct = await ch.run(lambda c: c.query(distinct_sql, parameters=params).result_rows[0][0])
    rows = sum(int(r[1]) for r in result.result_rows)
    return FileLanded(
        rows=rows, source_rows=int(distinct), totals={str(r[0]): Decimal(r[2]) for r in result.result_rows}
    )
