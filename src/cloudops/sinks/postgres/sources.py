"""Billing sources of a tenant: ``tenant_<id>.sources`` (migrations 0003, 0004, 0006, 0010, 0011).

A source is where a tenant's billing exports arrive: a bucket and key prefix (the routing
key: the bridge sends an object to the source whose prefix is the longest match), the
object store's endpoint and region, and a ``credentials_ref`` naming how credentials are
obtained (never the secret; see :mod:`cloudops.sources.credentials`).

Functions take a connection or a DSN (see :mod:`cloudops.sinks.postgres.client`) and block
the calling thread. With a borrowed connection they join the caller's open transaction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from cloudops.errors import ConfigError
from cloudops.sinks.postgres.client import ConnOrDsn, connection, schema_for
from cloudops.sinks.postgres.tenants import Tenant, list_tenants

__all__ = [
    "SourceRecord",
    "delete_source",
    "get_source",
    "list_sources",
    "sources_of_tenants",
    "upsert_source",
]

_COLS = (
    "id, provider, bucket, prefix, credentials_ref, schedule_s, enabled, layout, endpoint_url, region, external_id, "
    "kind, options"
)


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One row of ``tenant_<id>.sources``."""

    id: str
    provider: str
    bucket: str
    prefix: str
    credentials_ref: str | None
    schedule_s: int | None
    enabled: bool
    layout: str
    endpoint_url: str | None = None
    region: str | None = None
    external_id: str | None = None
    kind: str = "s3"  # migration 0011: which object store (cloudops.sources.stores)
    options: dict[str, Any] = field(default_factory=dict)  # the kind's own settings, never secrets

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (audit images, API output)."""
        return asdict(self)


def _table(tenant: str) -> sql.Identifier:
    return sql.Identifier(schema_for(tenant), "sources")


def _rows(conn: psycopg.Connection[Any], tenant: str, query: sql.Composed, params: list[Any]) -> list[dict[str, Any]]:
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, params)
            return list(cur.fetchall()) if cur.description else []
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn, psycopg.errors.InvalidSchemaName) as exc:
        raise ConfigError(
            f"{schema_for(tenant)}.sources is missing or not up to date: run `cloudops migrate --tenant {tenant}`"
        ) from exc


def upsert_source(
    conn_or_dsn: ConnOrDsn, tenant: str, source: SourceRecord
) -> tuple[SourceRecord | None, SourceRecord]:
    """Create or replace a source (by id); returns (before, after). ``before`` is None when new.

    Raises ConfigError if the tenant's schema is not migrated, ``psycopg.errors.CheckViolation``
    (bad id, provider, layout, schedule) or ``UniqueViolation`` (another source of the tenant
    has this bucket and prefix). Blocks.
    """
    values = [getattr(source, c.strip()) for c in _COLS.split(",")]
    values = [Jsonb(v) if isinstance(v, dict) else v for v in values]
    query = sql.SQL(
        "INSERT INTO {t} (" + _COLS + ") VALUES (" + ", ".join(["%s"] * len(values)) + ") "
        "ON CONFLICT (id) DO UPDATE SET "
        + ", ".join(f"{c.strip()} = EXCLUDED.{c.strip()}" for c in _COLS.split(",")[1:])
        + " RETURNING "
        + _COLS
    ).format(t=_table(tenant))
    with connection(conn_or_dsn) as conn, conn.transaction():
        before = get_source(conn, tenant, source.id, lock=True)
        (row,) = _rows(conn, tenant, query, values)
    return before, SourceRecord(**row)


def get_source(conn_or_dsn: ConnOrDsn, tenant: str, source_id: str, *, lock: bool = False) -> SourceRecord | None:
    """One source of the tenant, or None. ``lock``: ``FOR UPDATE`` (inside the caller's transaction)."""
    query = sql.SQL("SELECT " + _COLS + " FROM {t} WHERE id = %s" + (" FOR UPDATE" if lock else "")).format(
        t=_table(tenant)
    )
    with connection(conn_or_dsn) as conn:
        rows = _rows(conn, tenant, query, [source_id])
    return SourceRecord(**rows[0]) if rows else None


def list_sources(conn_or_dsn: ConnOrDsn, tenant: str) -> list[SourceRecord]:
    """Every source of the tenant, by id. Blocks."""
    query = sql.SQL("SELECT " + _COLS + " FROM {t} ORDER BY id").format(t=_table(tenant))
    with connection(conn_or_dsn) as conn:
        return [SourceRecord(**r) for r in _rows(conn, tenant, query, [])]


def delete_source(conn_or_dsn: ConnOrDsn, tenant: str, source_id: str) -> SourceRecord | None:
    """Remove a source with its file ledger and period versions; returns the removed row (None: none).

    The rows it loaded into ClickHouse stay (they are the tenant's billing history). Blocks.
    """
    schema = schema_for(tenant)
    with connection(conn_or_dsn) as conn, conn.transaction():
        before = get_source(conn, tenant, source_id, lock=True)
        if before is None:
            return None
        for table in ("file_ledger", "period_versions"):
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE source_id = %s").format(sql.Identifier(schema, table)), [source_id]
            )
        _rows(conn, tenant, sql.SQL("DELETE FROM {t} WHERE id = %s").format(t=_table(tenant)), [source_id])
    return before


def sources_of_tenants(conn_or_dsn: ConnOrDsn) -> list[tuple[Tenant, SourceRecord]]:
    """(tenant, source) for every source of every registered tenant, whatever its state.

    A tenant whose schema is missing or not migrated is skipped (it cannot own objects yet).
    Blocks: one query per tenant on one connection.
    """
    out: list[tuple[Tenant, SourceRecord]] = []
    with connection(conn_or_dsn) as conn:
        for tenant in list_tenants(conn):
            try:
                out.extend((tenant, s) for s in list_sources(conn, tenant.id))
            except ConfigError:
                continue
    return out
