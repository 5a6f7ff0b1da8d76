"""Idempotent inserts of FOCUS batches.

Each batch carries a deterministic id; it is passed to ClickHouse as the
``insert_deduplication_token``, so inserting the same batch again (a redelivered
message, a re-parsed file) is a no-op inside the table's deduplication window.
"""

from __future__ import annotations

import pyarrow as pa

from cloudops.sinks.clickhouse.client import ClickHouse, database_for

__all__ = ["insert_focus_batch"]


async def insert_focus_batch(
    ch: ClickHouse,
    tenant: str,
    batch: pa.RecordBatch,
    *,
    token: str,
    staging: bool = False,
    pending: bool = False,
    x_source: str | None = None,
) -> int:
    """Insert ``batch`` into ``tenant_<t>.focus`` with deduplication token ``token``.

    ``staging``/``pending`` choose ``focus_staging``/``focus_pending`` instead. ``x_source``
    sets the rows' ``x_Source`` (the billing source id, or a pending version's tag);
    without it the column defaults to the provider. Returns the rows sent (not
    necessarily written: a duplicate is dropped by ClickHouse). Raises TransientError
    when ClickHouse is unreachable. Idempotent per token.
    """
    name = "focus_pending" if pending else "focus_staging" if staging else "focus"
    table = f"{database_for(tenant)}.{name}"
    data = pa.Table.from_batches([batch])
    if x_source is not None:
        data = data.append_column("x_Source", pa.array([x_source] * batch.num_rows, pa.string()))
    settings = {
        "insert_deduplication_token": token,
        "insert_deduplicate": 1,
        # Rollup tables fed by materialised views deduplicate the same block too.
        "deduplicate_blocks_in_dependent_materialized_views": 1,
        # The rollup views of one insert run side by side instead of one after another.
        "parallel_view_processing": 1,
    }
    await ch.run(lambda c: c.insert_arrow(table, data, settings=settings))
    return int(batch.num_rows)
