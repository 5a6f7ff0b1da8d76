"""Promoted tag columns: the most-used tag keys of a tenant get a column of their own.

Tags are stored as a JSON object (``focus.Tags``); reading one key from the raw table means
parsing every row's JSON. Promoting a key adds a ``MATERIALIZED`` column
(``JSONExtractString(Tags, key)``, LowCardinality) to the tenant's fact tables — ``focus``,
``focus_staging`` and ``focus_pending``, which must keep one structure for partition swaps —
and back-fills it (``MATERIALIZE COLUMN``). New rows fill it on insert; the insert path does
not change. The planner then reads the column instead of the JSON for ``tag:<key>`` on the
raw table (filters and group-bys); the tag rollups already answer one-key questions without
the raw table.

The column's comment (``tag:<key>``) maps it back to the key, so the set of promoted keys is
read from ``system.columns`` and survives restarts without another store.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from cloudops.errors import ConfigError
from cloudops.sinks.clickhouse.client import ClickHouse, database_for

__all__ = ["PromotedTag", "column_for", "demote_tag", "promote_tags", "promoted_tags", "top_tag_keys"]

#: The fact tables that must share one structure (REPLACE PARTITION between them).
FACT_TABLES = ("focus", "focus_staging", "focus_pending")
_COMMENT_PREFIX = "tag:"
_COLUMN = re.compile(r"^tag_[A-Za-z0-9_]{1,80}$")


@dataclass(frozen=True)
class PromotedTag:
    key: str
    column: str


def column_for(key: str) -> str:
    """The column of a promoted tag key: ``tag_<key>``, or ``tag_<sanitised>_<hash>`` when the key
    has characters a plain identifier cannot (``user:cost-center`` -> ``tag_user_cost_center_1f3a9c``)."""
    _check_key(key)
    safe = re.sub(r"[^A-Za-z0-9_]", "_", key)[:60]
    if safe == key:
        return f"tag_{key}"
    return f"tag_{safe}_{hashlib.sha1(key.encode()).hexdigest()[:6]}"


def _check_key(key: str) -> None:
    if not key or len(key) > 256 or any(ord(c) < 32 for c in key):
        raise ConfigError(f"invalid tag key {key!r}: 1-256 printable characters")


def _literal(value: str) -> str:
    """A ClickHouse string literal (for DDL, where parameters cannot be bound)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def promoted_tags(ch: ClickHouse, tenant: str) -> dict[str, str]:
    """Tag key -> column, for every key promoted in ``tenant``'s ``focus`` table."""
    rows = ch.call(
        lambda c: (
            c.query(
                "SELECT name, comment FROM system.columns WHERE database = {db:String} AND table = 'focus' "
                "AND startsWith(name, 'tag_') AND startsWith(comment, {p:String})",
                parameters={"db": database_for(tenant), "p": _COMMENT_PREFIX},
            ).result_rows
        )
    )
    return {str(comment)[len(_COMMENT_PREFIX) :]: str(name) for name, comment in rows if _COLUMN.match(str(name))}


def _fact_tables(ch: ClickHouse, db: str) -> list[str]:
    rows = ch.call(
        lambda c: (
            c.query(
                "SELECT name FROM system.tables WHERE database = {db:String} AND name IN {t:Array(String)}",
                parameters={"db": db, "t": list(FACT_TABLES)},
            ).result_rows
        )
    )
    present = {str(r[0]) for r in rows}
    if "focus" not in present:
        raise ConfigError(f"{db} has no focus table: run `cloudops migrate` first")
    return [t for t in FACT_TABLES if t in present]


def promote_tags(ch: ClickHouse, tenant: str, keys: list[str], *, backfill: bool = True) -> list[PromotedTag]:
    """Give each tag key a materialised column in every fact table; back-fill existing rows.

    Idempotent: a key already promoted is left as it is. ``backfill`` waits for the
    ``MATERIALIZE COLUMN`` mutation of the existing parts (rows inserted later are filled on
    insert either way; parts not yet back-filled compute the value on read, so answers are
    the same meanwhile).
    """
    db = database_for(tenant)
    tables = _fact_tables(ch, db)
    done = promoted_tags(ch, tenant)
    out = []
    for key in dict.fromkeys(keys):
        col = column_for(key)
        if done.get(key) == col:
            out.append(PromotedTag(key, col))
            continue
        expr = f"JSONExtractString(ifNull(Tags, ''), {_literal(key)})"
        for table in tables:
            ch.command(
                f"ALTER TABLE {db}.{table} ADD COLUMN IF NOT EXISTS `{col}` LowCardinality(String) "
                f"MATERIALIZED {expr} COMMENT {_literal(_COMMENT_PREFIX + key)}"
            )
        if backfill:
            for table in tables:
                _mutate(ch, f"ALTER TABLE {db}.{table} MATERIALIZE COLUMN `{col}`")
        out.append(PromotedTag(key, col))
    return out


def _mutate(ch: ClickHouse, sql: str) -> None:
    """Run a mutation and wait until it has rewritten every part."""
    ch.call(lambda c: c.command(sql, settings={"mutations_sync": 1}))


def demote_tag(ch: ClickHouse, tenant: str, key: str) -> bool:
    """Drop a promoted tag's column from every fact table. False if the key was not promoted."""
    db = database_for(tenant)
    col = promoted_tags(ch, tenant).get(key)
    if col is None:
        return False
    for table in _fact_tables(ch, db):
        ch.command(f"ALTER TABLE {db}.{table} DROP COLUMN IF EXISTS `{col}`")
    return True


def top_tag_keys(ch: ClickHouse, tenant: str, limit: int = 10) -> list[tuple[str, int]]:
    """The tag keys on the most rows (from the tag month rollup: cheap), most used first."""
    db = database_for(tenant)
    rows = ch.call(
        lambda c: (
            c.query(
                f"SELECT TagKey, sum(Rows) AS n FROM {db}.rollup_tag_month GROUP BY TagKey ORDER BY n DESC, TagKey "
                "LIMIT {limit:UInt32}",
                parameters={"limit": limit},
            ).result_rows
        )
    )
    return [(str(k), int(n)) for k, n in rows]
