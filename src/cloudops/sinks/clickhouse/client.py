"""A ClickHouse connection that works the same for ``chdb://`` and ``http(s)://`` DSNs.

Calls are synchronous (clickhouse-connect) and run on one dedicated thread per
connection: chdb's engine is not to be entered from several threads at once, and an
HTTP client gains nothing from more. Async callers use :meth:`ClickHouse.run`.

chdb lets only one process open a data path, and one session per process, so
:func:`connect` returns a shared connection per DSN inside a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from cloudops.errors import ConfigError, TransientError
from cloudops.settings import validate_tenant

__all__ = ["ClickHouse", "close_all", "connect", "database_for"]

T = TypeVar("T")

_lock = threading.Lock()
_pool: dict[str, ClickHouse] = {}


def database_for(tenant: str) -> str:
    """The ClickHouse database of a tenant (``tenant_<id>``); validates the id."""
    return f"tenant_{validate_tenant(tenant)}"


class ClickHouse:
    """One ClickHouse connection plus the thread it is used from."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.embedded = dsn.startswith("chdb:")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        """The clickhouse-connect client (created on first use, on the ClickHouse thread)."""
        if self._client is None:
            if self.embedded:
                if importlib.util.find_spec("chdb") is None:  # the runtime image has no chdb
                    raise ConfigError(
                        "a chdb:// ClickHouse DSN needs the in-process engine: pip install 'cloudops[embedded]', "
                        "or set CLOUDOPS_CLICKHOUSE__DSN to a ClickHouse server"
                    )
                path = self.dsn.removeprefix("chdb://")
                if path and path != "/":
                    os.makedirs(path, exist_ok=True)
            try:
                self._client = clickhouse_connect.get_client(dsn=self.dsn)
            except OperationalError as exc:
                raise TransientError(f"ClickHouse unreachable at {_redact(self.dsn)}: {exc}") from exc
        return self._client

    def call(self, fn: Callable[[Client], T]) -> T:
        """Run ``fn(client)`` on the ClickHouse thread and wait (blocking)."""
        return self._executor.submit(self._guarded, fn).result()

    async def run(self, fn: Callable[[Client], T]) -> T:
        """Run ``fn(client)`` on the ClickHouse thread without blocking the event loop."""
        return await asyncio.wrap_future(self._executor.submit(self._guarded, fn))

    def _guarded(self, fn: Callable[[Client], T]) -> T:
        try:
            return fn(self.client)
        except OperationalError as exc:
            raise TransientError(f"ClickHouse unavailable: {exc}") from exc

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        """Run one statement (blocking)."""
        return self.call(lambda c: c.command(sql, parameters=parameters))

    def close(self) -> None:
        """Close the client and stop the thread."""
        if self._client is not None:
            client = self._client
            self._client = None
            with contextlib.suppress(DatabaseError):
                self._executor.submit(client.close).result()
        self._executor.shutdown(wait=True)


def _redact(dsn: str) -> str:
    if "@" in dsn and "://" in dsn:
        scheme, rest = dsn.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return dsn


def connect(dsn: str) -> ClickHouse:
    """The process-wide connection for ``dsn`` (created on first call)."""
    with _lock:
        conn = _pool.get(dsn)
        if conn is None:
            conn = _pool[dsn] = ClickHouse(dsn)
        return conn


def close_all() -> None:
    """Close every pooled connection (at process shutdown)."""
    with _lock:
        conns = list(_pool.values())
        _pool.clear()
    for conn in conns:
        conn.close()
