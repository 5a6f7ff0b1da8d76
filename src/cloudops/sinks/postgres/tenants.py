"""The tenant registry: ``public.tenants`` (created by migration 0001).

Functions take a connection or a DSN (see :mod:`cloudops.sinks.postgres.client`) and
block the calling thread. With a borrowed connection they join the caller's open
transaction (as a savepoint) or, if none is open, commit before returning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from cloudops.errors import ConfigError
from cloudops.settings import validate_tenant
from cloudops.sinks.postgres.client import ConnOrDsn, connection

__all__ = ["Tenant", "list_tenants", "register_tenant"]

_MISSING = "public.tenants does not exist: run the control-plane migrations (`cloudops migrate`) first"


@dataclass(frozen=True, slots=True)
class Tenant:
    """One row of ``public.tenants``."""

    id: str
    display_name: str
    created_at: datetime


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


def list_tenants(conn_or_dsn: ConnOrDsn) -> list[Tenant]:
    """Every registered tenant, by id. Raises like :func:`register_tenant`. Blocks."""
    with connection(conn_or_dsn) as conn:
        try:
            with conn.transaction():
                rows = conn.execute("SELECT id, display_name, created_at FROM public.tenants ORDER BY id").fetchall()
        except psycopg.errors.UndefinedTable as exc:
            raise ConfigError(_MISSING) from exc
    return [Tenant(str(r[0]), str(r[1]), r[2]) for r in rows]
