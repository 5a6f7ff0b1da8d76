"""The tenant registry: ``public.tenants`` (created by migration 0001, lifecycle columns by 0008).

A tenant is ``active``, ``suspended`` (no ingest, no pull requests), ``deleting`` (marked by
``tenants delete``; purged once ``purge_after`` has passed) or gone: a purged tenant has no
row at all, only the audit record of its deletion (``public.audit_log``, see
:mod:`cloudops.sinks.postgres.audit_trail`).

Functions take a connection or a DSN (see :mod:`cloudops.sinks.postgres.client`) and
block the calling thread. With a borrowed connection they join the caller's open
transaction (as a savepoint) or, if none is open, commit before returning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from cloudops.errors import ConfigError
from cloudops.settings import validate_tenant
from cloudops.sinks.postgres.client import ConnOrDsn, connection, schema_for

__all__ = [
    "Tenant",
    "TenantState",
    "drop_tenant_schema",
    "get_tenant",
    "list_tenants",
    "lock_tenant",
    "register_tenant",
    "remove_tenant",
    "set_tenant_state",
    "tenant_schema_exists",
]

TenantState = Literal["active", "suspended", "deleting"]

_MISSING = "public.tenants does not exist: run the control-plane migrations (`cloudops migrate`) first"
_COLS = "id, display_name, created_at, state, state_changed_at, purge_after, reason"


@dataclass(frozen=True, slots=True)
class Tenant:
    """One row of ``public.tenants``."""

    id: str
    display_name: str
    created_at: datetime
    state: TenantState = "active"
    state_changed_at: datetime | None = None
    purge_after: datetime | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (audit before/after images)."""
        return {
            "id": self.id,
            "display_name": self.display_name,
            "state": self.state,
            "purge_after": self.purge_after.isoformat() if self.purge_after else None,
            "reason": self.reason,
        }


def _rows(conn: psycopg.Connection[Any], query: str | sql.Composable, params: list[Any]) -> list[dict[str, Any]]:
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, params)  # type: ignore[arg-type]
            return list(cur.fetchall()) if cur.description else []
    except psycopg.errors.UndefinedTable as exc:
        raise ConfigError(_MISSING) from exc
    except psycopg.errors.UndefinedColumn as exc:
        raise ConfigError("public.tenants lacks its lifecycle columns: run `cloudops migrate` (0008)") from exc


def register_tenant(conn_or_dsn: ConnOrDsn, tenant: str, display_name: str | None = None) -> bool:
    """Make sure ``tenant`` has a row in ``public.tenants``; True if this call created it.

    Idempotent: registering again keeps the row and its ``created_at``. A new row's
    display name is ``display_name`` or, if not given, the id; an existing row's display
    name is replaced only when ``display_name`` is given.

    Raises ValueError for an invalid tenant id, :class:`~cloudops.errors.ConfigError` if
    ``public.tenants`` does not exist yet, :class:`~cloudops.errors.TransientError` if a
    DSN cannot be connected. Blocks.
    """
    validate_tenant(tenant)
    with connection(conn_or_dsn) as conn:
        try:
            with conn.transaction():
                created = conn.execute(
                    "INSERT INTO public.tenants (id, display_name) VALUES (%s, %s) "
                    "ON CONFLICT (id) DO NOTHING RETURNING id",
                    [tenant, display_name or tenant],
                ).fetchone()
                if created is None and display_name:
                    conn.execute(
                        "UPDATE public.tenants SET display_name = %s WHERE id = %s AND display_name <> %s",
                        [display_name, tenant, display_name],
                    )
        except psycopg.errors.UndefinedTable as exc:
            raise ConfigError(_MISSING) from exc
    return created is not None


def list_tenants(conn_or_dsn: ConnOrDsn, *, states: tuple[TenantState, ...] | None = None) -> list[Tenant]:
    """Every registered tenant (of the given states), by id. Raises like :func:`register_tenant`. Blocks."""
    query = "SELECT " + _COLS + " FROM public.tenants"
    params: list[Any] = []
    if states is not None:
        query += " WHERE state = ANY(%s)"
        params.append(list(states))
    with connection(conn_or_dsn) as conn:
        rows = _rows(conn, query + " ORDER BY id", params)
    return [Tenant(**r) for r in rows]


def get_tenant(conn_or_dsn: ConnOrDsn, tenant: str) -> Tenant | None:
    """The tenant's row, or None (never registered, or purged). Blocks."""
    validate_tenant(tenant)
    with connection(conn_or_dsn) as conn:
        rows = _rows(conn, "SELECT " + _COLS + " FROM public.tenants WHERE id = %s", [tenant])
    return Tenant(**rows[0]) if rows else None


def lock_tenant(conn: psycopg.Connection[Any], tenant: str) -> Tenant | None:
    """The tenant's row, locked ``FOR UPDATE`` until the caller's transaction ends (None: no row)."""
    validate_tenant(tenant)
    rows = _rows(conn, "SELECT " + _COLS + " FROM public.tenants WHERE id = %s FOR UPDATE", [tenant])
    return Tenant(**rows[0]) if rows else None


def set_tenant_state(
    conn_or_dsn: ConnOrDsn,
    tenant: str,
    state: TenantState,
    *,
    purge_after: datetime | None = None,
    reason: str | None = None,
) -> Tenant:
    """Move the tenant to ``state`` (recording ``purge_after`` and ``reason``); returns the new row.

    Raises LookupError for an unknown tenant. The caller checks which moves are allowed
    (see :mod:`cloudops.service.tenants`). Blocks.
    """
    with connection(conn_or_dsn) as conn:
        rows = _rows(
            conn,
            "UPDATE public.tenants SET state = %s, state_changed_at = now(), purge_after = %s, reason = %s "
            "WHERE id = %s RETURNING " + _COLS,
            [state, purge_after, reason, validate_tenant(tenant)],
        )
    if not rows:
        raise LookupError(f"no tenant {tenant!r}")
    return Tenant(**rows[0])


def remove_tenant(conn_or_dsn: ConnOrDsn, tenant: str) -> bool:
    """Delete the tenant's row (rows referencing it with ON DELETE CASCADE go too). True if it existed."""
    with connection(conn_or_dsn) as conn:
        rows = _rows(conn, "DELETE FROM public.tenants WHERE id = %s RETURNING id", [validate_tenant(tenant)])
    return bool(rows)


def tenant_schema_exists(conn_or_dsn: ConnOrDsn, tenant: str) -> bool:
    """True if schema ``tenant_<id>`` exists. Blocks."""
    with connection(conn_or_dsn) as conn:
        rows = _rows(conn, "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s", [schema_for(tenant)])
    return bool(rows)


def drop_tenant_schema(conn_or_dsn: ConnOrDsn, tenant: str) -> bool:
    """Drop schema ``tenant_<id>`` and everything in it (CASCADE). True if it existed. Blocks."""
    existed = tenant_schema_exists(conn_or_dsn, tenant)
    with connection(conn_or_dsn) as conn, conn.transaction():
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema_for(tenant))))
    return existed
