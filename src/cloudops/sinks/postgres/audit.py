"""A tenant's audit log: ``tenant_<id>.audit_log`` (created by migration 0002).

Functions take a connection or a DSN (see :mod:`cloudops.sinks.postgres.client`) and
block the calling thread. With a borrowed connection they join the caller's open
transaction (as a savepoint) or, if none is open, commit before returning. Rows of
one tenant live only in that tenant's schema: no query here can read another's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from cloudops.errors import ConfigError
from cloudops.sinks.postgres.client import ConnOrDsn, connection, schema_for

__all__ = ["AuditEntry", "append_audit", "read_audit"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of a tenant's audit log."""

    id: int
    at: datetime
    actor: str
    action: str
    detail: Any


def _table(tenant: str) -> sql.Identifier:
    return sql.Identifier(schema_for(tenant), "audit_log")


def _missing(tenant: str) -> ConfigError:
    return ConfigError(f"{schema_for(tenant)}.audit_log does not exist: run `cloudops migrate --tenant {tenant}` first")


def append_audit(
    conn_or_dsn: ConnOrDsn, tenant: str, *, actor: str, action: str, detail: Mapping[str, Any] | None = None
) -> int:
    """Append one entry to the tenant's audit log; returns its id.

    Not idempotent: every call appends a row. ``detail`` is stored as jsonb (must be
    JSON-serialisable). Raises ValueError for an invalid tenant id,
    :class:`~cloudops.errors.ConfigError` if the tenant's schema is not migrated,
    :class:`~cloudops.errors.TransientError` if a DSN cannot be connected. Blocks.
    """
    table = _table(tenant)
    with connection(conn_or_dsn) as conn:
        try:
            with conn.transaction():
                row = conn.execute(
                    sql.SQL("INSERT INTO {} (actor, action, detail) VALUES (%s, %s, %s) RETURNING id").format(table),
                    [actor, action, None if detail is None else Jsonb(dict(detail))],
                ).fetchone()
        except psycopg.errors.UndefinedTable as exc:
            raise _missing(tenant) from exc
    assert row is not None
    return int(row[0])


def read_audit(conn_or_dsn: ConnOrDsn, tenant: str, *, limit: int = 100) -> list[AuditEntry]:
    """The tenant's newest ``limit`` audit entries, newest first. Raises like :func:`append_audit`. Blocks."""
    table = _table(tenant)
    with connection(conn_or_dsn) as conn:
        try:
            with conn.transaction():
                rows = conn.execute(
                    sql.SQL("SELECT id, at, actor, action, detail FROM {} ORDER BY id DESC LIMIT %s").format(table),
                    [limit],
                ).fetchall()
        except psycopg.errors.UndefinedTable as exc:
            raise _missing(tenant) from exc
    return [AuditEntry(int(r[0]), r[1], str(r[2]), str(r[3]), r[4]) for r in rows]
