"""Numbered, reversible PostgreSQL migrations of the control plane.

Files are ``NNNN_name.up.sql`` / ``NNNN_name.down.sql`` in this folder; the numbers form
one sequence. The first line of both files of a migration names its scope:

* ``-- scope: public``: objects shared by every tenant, in schema ``public`` (e.g.
  ``public.tenants``); applied versions are recorded in ``public.schema_migrations``.
* ``-- scope: tenant``: objects of one tenant, in its schema ``tenant_<id>``; applied
  versions are recorded in ``tenant_<id>.schema_migrations``.

``{schema}`` in a file is replaced by the quoted schema name (``psycopg.sql.Identifier``,
built only from a validated tenant id). Whole-line ``--`` comments are dropped first;
any other literal ``{`` or ``}`` must be doubled. A file is sent as one multi-statement
query, in one transaction together with its version row: a step lands entirely or not
at all (so a file must not use statements that refuse to run in a transaction, such as
``CREATE INDEX CONCURRENTLY``).

Every function blocks the calling thread. A migration run holds a session-level
advisory lock for its whole duration, so concurrent runs (two pods starting at once)
wait for each other instead of racing; the wait is unbounded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from cloudops.sinks.postgres.client import ConnOrDsn, connection, schema_for

__all__ = [
    "PUBLIC_SCHEMA",
    "Migration",
    "Scope",
    "all_migrations",
    "applied_versions",
    "migrate",
    "migrate_public",
    "pending",
]

Scope = Literal["public", "tenant"]

PUBLIC_SCHEMA = "public"

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.up\.sql$")
_SCOPE = re.compile(r"^--\s*scope:\s*(public|tenant)\s*$")
# Session advisory lock taken by every migration run: "cloudops" as a big-endian bigint.
_LOCK_KEY = int.from_bytes(b"cloudops", "big")

Steps = list[tuple[str, "Migration"]]


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration: ``version`` and ``name`` from the file name, ``scope`` from its first line."""

    version: int
    name: str
    scope: Scope
    up: str = field(repr=False)
    down: str = field(repr=False)


def _folder() -> Path:
    return Path(str(resources.files("cloudops.sinks.postgres") / "migrations"))


def _scope_of(path: Path, text: str) -> Scope:
    lines = text.strip().splitlines()
    m = _SCOPE.match(lines[0].strip()) if lines else None
    if not m:
        raise ValueError(f"migration {path.name} must start with '-- scope: public' or '-- scope: tenant'")
    return cast(Scope, m.group(1))


def all_migrations() -> list[Migration]:
    """Every packaged migration, in version order (ValueError on a malformed folder)."""
    out: list[Migration] = []
    for path in sorted(_folder().glob("*.up.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise ValueError(f"bad migration file name {path.name}")
        down = path.with_name(path.name.replace(".up.sql", ".down.sql"))
        if not down.exists():
            raise ValueError(f"migration {path.name} has no down file")
        up_text, down_text = path.read_text(), down.read_text()
        scope = _scope_of(path, up_text)
        if _scope_of(down, down_text) != scope:
            raise ValueError(f"migration {path.name}: up and down files name different scopes")
        version = int(m.group(1))
        if out and out[-1].version == version:
            raise ValueError(f"migration version {version:04d} is used twice")
        out.append(Migration(version, m.group(2), scope, up_text, down_text))
    return out


def _render(text: str, schema: str) -> sql.Composed:
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return sql.SQL(body).format(schema=sql.Identifier(schema))


def _goal(migrations: list[Migration], target: int | None) -> int:
    latest = migrations[-1].version if migrations else 0
    if target is None:
        return latest
    if not 0 <= target <= latest:
        raise ValueError(f"target version {target} out of range 0..{latest}")
    return target


def _read_applied(conn: psycopg.Connection[Any], schema: str) -> list[int]:
    exists = conn.execute(
        "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = %s AND tablename = 'schema_migrations'",
        [schema],
    ).fetchone()
    if exists is None:
        return []
    rows = conn.execute(
        sql.SQL("SELECT version FROM {}.schema_migrations ORDER BY version").format(sql.Identifier(schema))
    ).fetchall()
    return [int(r[0]) for r in rows]


@contextmanager
def _migration_session(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """Autocommit plus the migration lock, both undone at exit."""
    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise ValueError("migrations need a connection that is not inside a transaction")
    autocommit = conn.autocommit
    conn.autocommit = True
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", [_LOCK_KEY])
        try:
            yield
        finally:
            if not (conn.closed or conn.broken):
                conn.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_KEY])
    finally:
        if not (conn.closed or conn.broken):
            conn.autocommit = autocommit


def _ensure_ledger(conn: psycopg.Connection[Any], schema: str) -> None:
    ident = sql.Identifier(schema)
    with conn.transaction():
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.schema_migrations ("
                "version integer PRIMARY KEY, name text NOT NULL, "
                "applied_at timestamptz NOT NULL DEFAULT now())"
            ).format(ident)
        )


def _run(conn: psycopg.Connection[Any], schema: str, migrations: list[Migration], goal: int, *, revert: bool) -> Steps:
    """Apply ``migrations`` up to ``goal`` in ``schema``; with ``revert``, undo those above it."""
    _ensure_ledger(conn, schema)
    ledger = sql.Identifier(schema, "schema_migrations")
    done = set(_read_applied(conn, schema))
    plan: Steps = [("up", m) for m in migrations if m.version <= goal and m.version not in done]
    if revert:
        plan += [("down", m) for m in reversed(migrations) if m.version > goal and m.version in done]
    for direction, m in plan:
        try:
            with conn.transaction():
                if direction == "up":
                    conn.execute(_render(m.up, schema), prepare=False)
                    insert = sql.SQL("INSERT INTO {} (version, name) VALUES (%s, %s)").format(ledger)
                    conn.execute(insert, [m.version, m.name])
                else:
                    conn.execute(_render(m.down, schema), prepare=False)
                    conn.execute(sql.SQL("DELETE FROM {} WHERE version = %s").format(ledger), [m.version])
        except psycopg.Error as exc:
            exc.add_note(f"while applying migration {m.version:04d}_{m.name} {direction} in schema {schema}")
            raise
    return plan


def migrate(conn_or_dsn: ConnOrDsn, tenant: str, *, target: int | None = None) -> list[tuple[str, Migration]]:
    """Bring the control plane to ``target`` (default: latest) for one tenant. Returns the steps taken.

    Public-scope migrations up to ``target`` that are missing are applied first (they
    are shared, so this never reverts them: see :func:`migrate_public`). Then the
    tenant's schema ``tenant_<id>`` and its ``schema_migrations`` table are created if
    missing, and tenant-scope migrations are applied in order up to ``target``, or
    reverted newest first down to it. Each step is ``("up"|"down", Migration)``; a
    step's :attr:`Migration.scope` tells which schema it ran in.

    Idempotent: a second run with the same target does nothing and returns ``[]``.
    Does not register the tenant in ``public.tenants``: call
    :func:`cloudops.sinks.postgres.register_tenant` after it.

    Blocks (network, and the migration lock). Raises ValueError for an invalid tenant
    id, a target out of range or a connection that is inside a transaction;
    :class:`~cloudops.errors.TransientError` if a DSN cannot be connected; a
    ``psycopg.Error`` (naming the migration) if a step fails, that step being rolled
    back and the steps before it kept.
    """
    schema = schema_for(tenant)
    migrations = all_migrations()
    goal = _goal(migrations, target)
    with connection(conn_or_dsn) as conn, _migration_session(conn):
        steps = _run(conn, PUBLIC_SCHEMA, [m for m in migrations if m.scope == "public"], goal, revert=False)
        steps += _run(conn, schema, [m for m in migrations if m.scope == "tenant"], goal, revert=True)
    return steps


def migrate_public(conn_or_dsn: ConnOrDsn, *, target: int | None = None) -> list[tuple[str, Migration]]:
    """Bring only the public-scope migrations to ``target`` (default: latest), up or down.

    Reverting a public migration affects every tenant (reverting 0001 drops
    ``public.tenants`` with all its rows); tenant schemas are left alone. Same
    contract otherwise as :func:`migrate`.
    """
    migrations = all_migrations()
    goal = _goal(migrations, target)
    with connection(conn_or_dsn) as conn, _migration_session(conn):
        return _run(conn, PUBLIC_SCHEMA, [m for m in migrations if m.scope == "public"], goal, revert=True)


def applied_versions(conn_or_dsn: ConnOrDsn, tenant: str | None) -> list[int]:
    """Versions in effect for a tenant: public-scope ones plus the tenant's own, sorted.

    ``tenant=None`` gives the public-scope versions only. Read-only (creates nothing);
    a schema never migrated counts as having none. Blocks.
    """
    schema = None if tenant is None else schema_for(tenant)
    with connection(conn_or_dsn) as conn, conn.transaction():
        versions = _read_applied(conn, PUBLIC_SCHEMA)
        if schema is not None:
            versions += _read_applied(conn, schema)
    return sorted(versions)


def pending(conn_or_dsn: ConnOrDsn, tenant: str) -> list[Migration]:
    """Migrations (both scopes) not yet applied for the tenant, in version order. Blocks."""
    schema = schema_for(tenant)
    with connection(conn_or_dsn) as conn, conn.transaction():
        done = {"public": set(_read_applied(conn, PUBLIC_SCHEMA)), "tenant": set(_read_applied(conn, schema))}
    return [m for m in all_migrations() if m.version not in done[m.scope]]
