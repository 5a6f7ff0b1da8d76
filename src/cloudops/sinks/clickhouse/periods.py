"""Restated billing periods: load into staging, then swap the period in atomically per table.

The fact table and every rollup are partitioned by (billing month, source). The files of
one version of a period land in ``focus_pending`` under their own tag (``source:hash``),
so several versions can load side by side unseen. :func:`promote_pending` copies a
complete version into ``focus_staging`` (whose materialised views fill the staging
rollups), checks the copy, then replaces each table's partition from its staging twin
with ``ALTER TABLE ... REPLACE PARTITION`` (atomic per table) and empties staging.
Queries never see two versions of a period, or half of one, in a table.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from cloudops.errors import BadDataError
from cloudops.sinks.clickhouse.client import ClickHouse, database_for

__all__ = [
    "PERIOD_TABLES",
    "Promoted",
    "clear_staging",
    "drop_pending",
    "partition_literal",
    "pending_tag",
    "promote_pending",
    "swap_period",
]

PERIOD_TABLES: tuple[str, ...] = (
    "focus",
    "rollup_day",
    "rollup_month",
    "rollup_resource_month",
    "rollup_tag_day",
    "rollup_tag_month",
)
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
    # An empty staging partition is a legitimate new version (e.g. a month with no tagged
    # rows empties rollup_tag_day); promote_pending verified the fact rows beforehand.
    settings = {"allow_replace_partition_from_empty_source": 1}
    for table in PERIOD_TABLES:
        sql = f"ALTER TABLE {db}.{table} REPLACE PARTITION {part} FROM {db}.{table}_staging"
        ch.call(lambda c, sql=sql: c.command(sql, settings=settings))  # type: ignore[misc]
    clear_staging(ch, tenant, month, source)


def clear_staging(ch: ClickHouse, tenant: str, month: date, source: str) -> None:
    """Drop (month, source) from every staging table (blocking, idempotent)."""
    db = database_for(tenant)
    part = partition_literal(month, source)
    for table in PERIOD_TABLES:
        ch.command(f"ALTER TABLE {db}.{table}_staging DROP PARTITION {part}")


def pending_tag(source: str, version: str) -> str:
    """The ``x_Source`` value of a version's rows in ``focus_pending``: ``<source>:<hash of version>``."""
    return f"{source}:{hashlib.sha256(version.encode()).hexdigest()[:16]}"


@dataclass(frozen=True, slots=True)
class Promoted:
    rows: int
    totals: dict[str, Decimal]


def _sums(ch: ClickHouse, table: str, where: str, params: dict[str, object]) -> Promoted:
    result = ch.call(
        lambda c: (
            c.query(
                f"SELECT BillingCurrency, count(), sum(BilledCost) FROM {table} WHERE {where} GROUP BY BillingCurrency",
                parameters=params,
            ).result_rows
        )
    )
    return Promoted(sum(int(r[1]) for r in result), {str(r[0]): Decimal(r[2]) for r in result})


def promote_pending(ch: ClickHouse, tenant: str, month: date, source: str, tag: str) -> Promoted:
    """Swap the pending version ``tag`` in as (month, source) in the fact table and every rollup.

    Blocking. Idempotent while the pending rows exist (a crash part-way is repaired by
    running it again). Raises BadDataError when the version has rows outside ``month``
    or the staged copy differs from the pending rows (nothing is swapped then).
    """
    db = database_for(tenant)
    partition_literal(month, source)
    partition_literal(month, tag)
    yyyymm = month.year * 100 + month.month
    params: dict[str, object] = {"tag": tag, "src": source, "m": yyyymm}
    outside = ch.call(
        lambda c: c.query(
            f"SELECT count() FROM {db}.focus_pending WHERE x_Source = {{tag:String}} "
            "AND toYYYYMM(BillingPeriodStart) != {m:UInt32}",
            parameters=params,
        ).result_rows[0][0]
    )
    if outside:
        raise BadDataError(f"{outside} rows of version {tag} fall outside billing period {month:%Y-%m}")
    clear_staging(ch, tenant, month, source)
    ch.call(
        lambda c: c.command(
            # The filter sits in a subquery: next to REPLACE, `x_Source` would name the replaced value.
            f"INSERT INTO {db}.focus_staging SELECT * REPLACE ({{src:String}} AS x_Source) FROM (SELECT * FROM "
            f"{db}.focus_pending WHERE x_Source = {{tag:String}} AND toYYYYMM(BillingPeriodStart) = {{m:UInt32}})",
            parameters=params,
            # A repeated promotion must copy again, not be dropped as a duplicate block.
            settings={"insert_deduplicate": 0},
        )
    )
    want = _sums(ch, f"{db}.focus_pending", "x_Source = {tag:String}", params)
    got = _sums(
        ch, f"{db}.focus_staging", "x_Source = {src:String} AND toYYYYMM(BillingPeriodStart) = {m:UInt32}", params
    )
    if want != got:
        clear_staging(ch, tenant, month, source)
        raise BadDataError(f"staged copy of {tag} differs from its pending rows ({got} != {want})")
    swap_period(ch, tenant, month, source)
    return got


def drop_pending(ch: ClickHouse, tenant: str, month: date, tag: str) -> None:
    """Forget a version's pending rows (blocking, idempotent)."""
    db = database_for(tenant)
    ch.command(f"ALTER TABLE {db}.focus_pending DROP PARTITION {partition_literal(month, tag)}")
