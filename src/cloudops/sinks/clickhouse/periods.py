"""Restated billing periods: load into staging, then swap the period in atomically per table.

The fact table and every rollup are partitioned by (billing month, source). A restated
period is inserted into ``focus_staging`` (whose materialised views fill the staging
rollups), then each table's partition is replaced from its staging twin with
``ALTER TABLE ... REPLACE PARTITION`` (atomic per table) and the staging partition is
dropped. Queries never see two versions of a period in one table.
"""

from __future__ import annotations

import re
from datetime import date

from cloudops.sinks.clickhouse.client import ClickHouse, database_for

__all__ = ["PERIOD_TABLES", "clear_staging", "partition_literal", "swap_period"]

PERIOD_TABLES: tuple[str, ...] = ("focus", "rollup_day", "rollup_month", "rollup_resource_month", "rollup_tag_day")
_SOURCE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


def partition_literal(month: date, source: str) -> str:
    """The partition expression of (billing month, source), e.g. ``(202311, 'aws')``; validates both."""
    if not _SOURCE_RE.fullmatch(source):
        raise ValueError(f"invalid source id {source!r}")
    return f"({month.year * 100 + month.month}, '{source}')"


def swap_period(ch: ClickHouse, tenant: str, month: date, source: str) -> None:
    """Replace (month, source) in the fact table and every rollup by the staged version, then clear staging.

    Blocking. Idempotent once staging is empty (replacing from an empty staging partition
    would empty the live one, so callers swap only a fully loaded, reconciled staging).
    """
    db = database_for(tenant)
    part = partition_literal(month, source)
    for table in PERIOD_TABLES:
        ch.command(f"ALTER TABLE {db}.{table} REPLACE PARTITION {part} FROM {db}.{table}_staging")
    clear_staging(ch, tenant, month, source)


def clear_staging(ch: ClickHouse, tenant: str, month: date, source: str) -> None:
    """Drop (month, source) from every staging table (blocking, idempotent)."""
    db = database_for(tenant)
    part = partition_literal(month, source)
    for table in PERIOD_TABLES:
        ch.command(f"ALTER TABLE {db}.{table}_staging DROP PARTITION {part}")
