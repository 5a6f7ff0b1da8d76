"""PostgreSQL connections for the control plane (psycopg 3, synchronous).

Every function of this package takes either an open :class:`psycopg.Connection` or a
libpq DSN. With a DSN, the function opens its own connection (autocommit), uses it and
closes it before returning. With a connection, the caller keeps ownership: it is
never closed here.

Everything here blocks the calling thread for the network round trips. From async
code, call through ``asyncio.to_thread`` (one connection per thread: psycopg
connections are thread-safe but serialise their queries).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeAlias

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from cloudops.errors import TransientError
from cloudops.settings import validate_tenant

__all__ = ["ConnOrDsn", "connect", "connection", "redact_dsn", "schema_for"]

ConnOrDsn: TypeAlias = "psycopg.Connection[Any] | str"
"""An open connection (borrowed, never closed here) or a DSN (a connection is opened and closed)."""

_CONNECT_TIMEOUT_S = 10


def schema_for(tenant: str) -> str:
    """The PostgreSQL schema of a tenant (``tenant_<id>``); validates the id (ValueError)."""
    return f"tenant_{validate_tenant(tenant)}"


def redact_dsn(dsn: str) -> str:
    """``dsn`` without its password, for messages and logs."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparseable DSN>"
    params.pop("password", None)
    return make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})


def connect(dsn: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """Open a connection (blocking; at most 10 s unless the DSN sets ``connect_timeout``).

    Raises :class:`~cloudops.errors.TransientError` when the server cannot be reached
    or refuses the login, with the DSN redacted.
    """
    extra: dict[str, Any] = {}
    try:
        if "connect_timeout" not in conninfo_to_dict(dsn):
            extra["connect_timeout"] = _CONNECT_TIMEOUT_S
    except psycopg.ProgrammingError as exc:
        raise ValueError(f"invalid PostgreSQL DSN: {exc}") from None
    try:
        return psycopg.connect(dsn, autocommit=autocommit, **extra)
    except psycopg.OperationalError as exc:
        raise TransientError(f"PostgreSQL unreachable at {redact_dsn(dsn)}: {exc}") from exc


@contextmanager
def connection(conn_or_dsn: ConnOrDsn) -> Iterator[psycopg.Connection[Any]]:
    """Yield a connection: the one given (left open), or a new one for a DSN (closed at exit)."""
    if isinstance(conn_or_dsn, str):
        with connect(conn_or_dsn) as conn:
            yield conn
    else:
        yield conn_or_dsn
