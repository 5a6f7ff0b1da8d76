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
