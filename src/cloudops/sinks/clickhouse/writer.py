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
    ch: ClickHouse, tenant: str, batch: pa.RecordBatch, *, token: str, staging: bool = False
) -> int:
    """Insert ``batch`` into ``tenant_<t>.focus`` (or ``focus_staging``) with deduplication token ``token``.

    Returns the rows sent (not necessarily written: a duplicate is dropped by ClickHouse).
    Raises TransientError when ClickHouse is unreachable. Idempotent per token.
    """
    table = f"{database_for(tenant)}.{'focus_staging' if staging else 'focus'}"
    data = pa.Table.from_batches([batch])
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
