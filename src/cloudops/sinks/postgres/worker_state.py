"""What a worker keeps between messages: ``public.worker_state`` (migration 0012).

Only SQL lives here; which worker keeps what is :mod:`cloudops.ingest.state`. A row is one
``(worker, tenant, key)`` with a JSON value; a tenant's rows are deleted with its
``public.tenants`` row (foreign key), so a purged tenant leaves none behind.

Functions take a connection or a DSN (see :mod:`cloudops.sinks.postgres.client`) and block
the calling thread. Raise ConfigError when the table is missing (migrations not run) and
ValueError for a tenant that is not registered; psycopg's errors otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from cloudops.errors import ConfigError
from cloudops.sinks.postgres.client import ConnOrDsn, connection

__all__ = ["delete_state", "get_state", "load_states", "put_states"]

_MISSING = "public.worker_state does not exist: run the control-plane migrations (`cloudops migrate`) first"


@contextmanager
def _table(conn_or_dsn: ConnOrDsn) -> Iterator[psycopg.Connection[Any]]:
    try:
        with connection(conn_or_dsn) as conn:
            yield conn
    except psycopg.errors.UndefinedTable as exc:
        raise ConfigError(_MISSING) from exc
    except psycopg.errors.ForeignKeyViolation as exc:
        raise ValueError(f"worker state of a tenant that is not registered: {exc.diag.message_detail}") from exc


def get_state(conn_or_dsn: ConnOrDsn, worker: str, tenant: str, key: str) -> Any | None:
    """The value stored under ``key``, or None."""
    with _table(conn_or_dsn) as conn:
        row = conn.execute(
            "SELECT value FROM public.worker_state WHERE worker = %s AND tenant = %s AND key = %s",
            [worker, tenant, key],
        ).fetchone()
    return None if row is None else row[0]


def load_states(
    conn_or_dsn: ConnOrDsn, worker: str, *, tenant: str | None = None, prefix: str = ""
) -> dict[tuple[str, str], Any]:
    """Every ``(tenant, key) -> value`` of ``worker`` (of one tenant, keys starting with ``prefix``)."""
    with _table(conn_or_dsn) as conn:
        rows = conn.execute(
            "SELECT tenant, key, value FROM public.worker_state WHERE worker = %s"
            " AND (%s::text IS NULL OR tenant = %s) AND starts_with(key, %s)",
            [worker, tenant, tenant, prefix],
        ).fetchall()
    return {(t, k): v for t, k, v in rows}


def put_states(conn_or_dsn: ConnOrDsn, worker: str, tenant: str, values: Mapping[str, Any]) -> None:
    """Store (insert or replace) each ``key -> value`` of ``values``, in one transaction."""
    if not values:
        return
    with _table(conn_or_dsn) as conn, conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO public.worker_state (worker, tenant, key, value) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (worker, tenant, key) DO UPDATE SET value = excluded.value, updated_at = now()",
            [(worker, tenant, key, Jsonb(value)) for key, value in values.items()],
        )


def delete_state(conn_or_dsn: ConnOrDsn, worker: str, tenant: str, key: str) -> None:
    """Forget ``key`` (nothing happens if it is not stored)."""
    with _table(conn_or_dsn) as conn:
        conn.execute(
            "DELETE FROM public.worker_state WHERE worker = %s AND tenant = %s AND key = %s", [worker, tenant, key]
        )
