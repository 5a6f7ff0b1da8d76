"""The service layer's audit trail: ``public.audit_log`` (migration 0008).

One row per mutation made through :mod:`cloudops.service`: who (actor), what (action,
target), which tenant, the request id, and the before/after images as jsonb. It lives in
``public`` so a tenant's deletion record outlives the tenant, and it is append-only: a
trigger refuses UPDATE, DELETE and TRUNCATE (``psycopg.errors.InsufficientPrivilege``).

Write it with the connection of the mutation, inside its transaction, so a change and its
audit row commit or roll back together. Functions block the calling thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from cloudops.errors import ConfigError
from cloudops.settings import validate_tenant
from cloudops.sinks.postgres.client import ConnOrDsn, connection

__all__ = ["AuditRecord", "read_trail", "record_audit"]

_MISSING = "public.audit_log does not exist: run `cloudops migrate` (control-plane migration 0008)"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One row of ``public.audit_log``."""

    id: int
    at: datetime
    tenant: str
    actor: str
    action: str
    target: str | None
    request_id: str | None
    before: Any
    after: Any


def record_audit(
    conn_or_dsn: ConnOrDsn,
    *,
    tenant: str,
    actor: str,
    action: str,
    target: str | None = None,
    request_id: str | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> int:
    """Append one audit row; returns its id. Not idempotent (every call appends).

    ``before``/``after`` must be JSON-serialisable. Raises ValueError for an invalid tenant
    id, :class:`~cloudops.errors.ConfigError` if the table does not exist. Blocks.
    """
    validate_tenant(tenant)
    with connection(conn_or_dsn) as conn:
        try:
            with conn.transaction():
                row = conn.execute(
                    "INSERT INTO public.audit_log (tenant, actor, action, target, request_id, before, after) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                    [
                        tenant,
                        actor,
                        action,
                        target,
                        request_id,
                        None if before is None else Jsonb(dict(before)),
                        None if after is None else Jsonb(dict(after)),
                    ],
                ).fetchone()
        except psycopg.errors.UndefinedTable as exc:
            raise ConfigError(_MISSING) from exc
    assert row is not None
    return int(row[0])


def read_trail(
    conn_or_dsn: ConnOrDsn, tenant: str, *, action: str | None = None, limit: int = 100
) -> list[AuditRecord]:
    """The tenant's newest ``limit`` audit rows (optionally of one action), newest first. Blocks."""
    query = (
        "SELECT id, at, tenant, actor, action, target, request_id, before, after FROM public.audit_log "
        "WHERE tenant = %s"
    )
    params: list[Any] = [validate_tenant(tenant)]
    if action is not None:
        query += " AND action = %s"
        params.append(action)
    query += " ORDER BY id DESC LIMIT %s"
    params.append(limit)
    with connection(conn_or_dsn) as conn:
        try:
            with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                cur.execute(query, params)  # type: ignore[arg-type]
                rows = cur.fetchall()
        except psycopg.errors.UndefinedTable as exc:
            raise ConfigError(_MISSING) from exc
    return [AuditRecord(**r) for r in rows]
