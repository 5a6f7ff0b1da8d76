"""Throwaway PostgreSQL and Redis servers for tests: no Docker, free loopback ports, temp dirs.

    server = PostgresServer().start()   # or: with PostgresServer() as server:
    ... server.dsn ...
    server.stop()                       # stops the server and deletes its files

The servers are the demo's own (:mod:`cloudops.embedded.servers`), re-exported here so tests,
benchmarks and the demo start them one way. ``start`` blocks until the server answers; a failed
start raises :class:`ServiceError` with the server's log; missing binaries raise
:class:`ServiceUnavailable` (a subclass), which fixtures may turn into a skip. Servers are also
stopped at interpreter exit if a test run forgets to.

:func:`temporary_database` is the tests' own: a fresh database per test on the session's server.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from cloudops.embedded.servers import PostgresServer, RedisServer, ServiceError, ServiceUnavailable, find_postgres_bin

__all__ = [
    "PostgresServer",
    "RedisServer",
    "ServiceError",
    "ServiceUnavailable",
    "find_postgres_bin",
    "temporary_database",
]


@contextlib.contextmanager
def temporary_database(dsn: str) -> Iterator[str]:
    """Create an empty database on the server of ``dsn``; yield its DSN; drop it at exit.

    The role of ``dsn`` needs CREATEDB. Dropping forces other sessions off (PostgreSQL 13+).
    """
    name = f"cloudops_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(dsn, dbname=name)
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
