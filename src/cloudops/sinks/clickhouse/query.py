"""Read side used by the loader's reconciliation (analytics queries: planner.py / analytics.py).

The file id is bound as a query parameter; the database name comes from a validated tenant id.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from cloudops.sinks.clickhouse.client import ClickHouse, database_for

__all__ = ["FileLanded", "file_landed"]


@dataclass(frozen=True, slots=True)
class FileLanded:
    rows: int  # FOCUS rows
    source_rows: int  # distinct source rows they came from
    totals: dict[str, Decimal]


async def file_landed(ch: ClickHouse, tenant: str, file_id: str, *, pending: bool = False) -> FileLanded:
    """FOCUS rows, distinct source rows and BilledCost per currency of one file, counted in ClickHouse.

    ``pending``: count in ``focus_pending`` (a staged period version) instead of ``focus``.
    One query: per-currency sums plus the file-wide distinct source-row count.
    """
    table = f"{database_for(tenant)}.{'focus_pending' if pending else 'focus'}"
    sql = (
        "SELECT groupArray((cur, n, cost)), any(distinct_rows) FROM (SELECT BillingCurrency AS cur, count() AS n, "
        f"sum(BilledCost) AS cost, (SELECT uniqExact(x_RowNumber) FROM {table} WHERE x_FileId = {{fid:String}}) "
        f"AS distinct_rows FROM {table} WHERE x_FileId = {{fid:String}} GROUP BY BillingCurrency)"
    )
    per_currency, distinct = await ch.run(lambda c: c.query(sql, parameters={"fid": file_id}).result_rows[0])
    return FileLanded(
        rows=sum(int(n) for _, n, _ in per_currency),
        source_rows=int(distinct or 0),
        totals={str(cur): Decimal(cost) for cur, _, cost in per_currency},
    )
