"""Supporting FOCUS datasets in ClickHouse: one table per dataset per tenant (migration 0005).

``tenant_<t>.contract_commitment`` (FOCUS 1.3), ``billing_period`` and ``invoice_detail``
(FOCUS 1.4) hold converted rows of their dataset (its FOCUS columns, the cloudops ``x_``
columns, ``x_Source``). Inserts carry the batch id as deduplication token, like ``focus``,
so a redelivered batch never doubles a row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pyarrow as pa

from cloudops.focus.datasets import dataset
from cloudops.sinks.clickhouse.client import ClickHouse, database_for

__all__ = ["DatasetLanded", "dataset_file_landed", "delete_dataset_file", "insert_dataset_batch"]


def _table(tenant: str, dataset_id: str) -> str:
    return f"{database_for(tenant)}.{dataset(dataset_id).table}"


async def insert_dataset_batch(
    ch: ClickHouse, tenant: str, dataset_id: str, batch: pa.RecordBatch, *, token: str, x_source: str | None = None
) -> int:
    """Insert converted rows of ``dataset_id`` into the tenant's table for it, deduplicated by ``token``.

    ``x_source`` sets ``x_Source`` (default: the provider). Returns the rows sent. Raises
    KeyError for an unknown dataset, TransientError when ClickHouse is unreachable. Idempotent per token.
    """
    table = _table(tenant, dataset_id)
    data = pa.Table.from_batches([batch])
    if x_source is not None:
        data = data.append_column("x_Source", pa.array([x_source] * batch.num_rows, pa.string()))
    settings = {"insert_deduplication_token": token, "insert_deduplicate": 1}
    await ch.run(lambda c: c.insert_arrow(table, data, settings=settings))
    return int(batch.num_rows)


async def delete_dataset_file(ch: ClickHouse, tenant: str, dataset_id: str, file_id: str) -> None:
    """Remove every row of one file from the dataset's table (an aborted file). Idempotent."""
    table = _table(tenant, dataset_id)
    await ch.run(
        lambda c: c.command(f"DELETE FROM {table} WHERE x_FileId = {{fid:String}}", parameters={"fid": file_id})
    )


@dataclass(frozen=True, slots=True)
class DatasetLanded:
    """What ClickHouse holds of one file: rows, distinct source rows, money per currency (if any)."""

    rows: int
    source_rows: int
    totals: dict[str, Decimal] = field(default_factory=dict)


async def dataset_file_landed(ch: ClickHouse, tenant: str, dataset_id: str, file_id: str) -> DatasetLanded:
    """Count one file's rows in its dataset table and sum its money column per currency (nulls skipped).

    The sums match :func:`cloudops.focus.datasets.batch_cost_totals` of the rows sent, so the
    loader reconciles a supporting-dataset file like a Cost and Usage one.
    """
    spec = dataset(dataset_id)
    table = _table(tenant, dataset_id)
    params = {"fid": file_id}
    rows, distinct = await ch.run(
        lambda c: c.query(
            f"SELECT count(), uniqExact(x_RowNumber) FROM {table} WHERE x_FileId = {{fid:String}}", parameters=params
        ).result_rows[0]
    )
    totals: dict[str, Decimal] = {}
    if spec.cost is not None and spec.currency is not None:
        sql = (
            f"SELECT ifNull({spec.currency}, '') AS cur, sum({spec.cost}) FROM {table} "
            f"WHERE x_FileId = {{fid:String}} AND {spec.cost} IS NOT NULL GROUP BY cur"
        )
        result = await ch.run(lambda c: c.query(sql, parameters=params).result_rows)
        totals = {str(cur): Decimal(cost) for cur, cost in result}
    return DatasetLanded(rows=int(rows), source_rows=int(distinct or 0), totals=totals)
