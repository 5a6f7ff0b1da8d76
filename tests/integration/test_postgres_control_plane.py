"""The PostgreSQL control plane against a real server: migrations, tenant schemas, registry, audit."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from psycopg import sql

from cloudops.errors import ConfigError, TransientError
from cloudops.sinks.postgres import (
    all_migrations,
    append_audit,
    applied_versions,
    connect,
    list_tenants,
    migrate,
    migrate_public,
    pending,
    read_audit,
    register_tenant,
    schema_for,
)

pytestmark = pytest.mark.integration


def _tables(dsn: str, schema: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        query = "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = %s"
        rows = conn.execute(query, [schema]).fetchall()
    return {r[0] for r in rows}


def _steps(steps: list[Any]) -> list[tuple[str, int]]:
    return [(direction, m.version) for direction, m in steps]


def _in_run_order() -> list[int]:
    """Versions in the order a first `migrate` applies them: public scope first, then the tenant's."""
    migrations = all_migrations()
    return [m.version for m in migrations if m.scope == "public"] + [
        m.version for m in migrations if m.scope == "tenant"
    ]


def _public() -> list[int]:
    return [m.version for m in all_migrations() if m.scope == "public"]


def test_packaged_migrations_are_numbered_and_scoped() -> None:
    migrations = all_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert [(m.name, m.scope) for m in migrations[:2]] == [("tenants", "public"), ("audit_log", "tenant")]


def test_migrate_up_down_up_is_idempotent(postgres_db: str) -> None:
    schema = schema_for("acme")
    every = _in_run_order()
    tenant_versions = [m.version for m in all_migrations() if m.scope == "tenant"]
    tenant_tables = {"schema_migrations", "audit_log", "sources", "file_ledger", "period_versions"}
    assert _steps(migrate(postgres_db, "acme")) == [("up", v) for v in every]
    assert {"tenants", "schema_migrations"} <= _tables(postgres_db, "public")
    assert tenant_tables <= _tables(postgres_db, schema)
    assert applied_versions(postgres_db, "acme") == sorted(every)
    assert applied_versions(postgres_db, None) == _public()
    assert pending(postgres_db, "acme") == []

    assert migrate(postgres_db, "acme") == []  # idempotent

    # Down for one tenant reverts only its own scope; the shared registry stays.
    assert _steps(migrate(postgres_db, "acme", target=0)) == [("down", v) for v in reversed(tenant_versions)]
    assert _tables(postgres_db, schema) == {"schema_migrations"}
    assert "tenants" in _tables(postgres_db, "public")
    assert applied_versions(postgres_db, "acme") == _public()
    assert [m.version for m in pending(postgres_db, "acme")] == tenant_versions
    assert migrate(postgres_db, "acme", target=0) == []

    assert _steps(migrate(postgres_db, "acme")) == [("up", v) for v in tenant_versions]
    assert tenant_tables <= _tables(postgres_db, schema)
    assert migrate(postgres_db, "acme") == []


def test_migrate_public_down_up(postgres_db: str) -> None:
    migrate(postgres_db, "acme")
    assert _steps(migrate_public(postgres_db, target=0)) == [("down", v) for v in reversed(_public())]
    assert "tenants" not in _tables(postgres_db, "public")
    assert "audit_log" in _tables(postgres_db, schema_for("acme"))  # tenant schemas untouched
    assert migrate_public(postgres_db, target=0) == []
    assert _steps(migrate_public(postgres_db)) == [("up", v) for v in _public()]
    assert migrate_public(postgres_db) == []
    assert migrate(postgres_db, "acme") == []


def test_migrate_with_a_borrowed_connection_leaves_it_usable(postgres_db: str) -> None:
    with psycopg.connect(postgres_db) as conn:  # autocommit off, as psycopg opens it
        assert _steps(migrate(conn, "acme")) == [("up", v) for v in _in_run_order()]
        assert conn.autocommit is False
        assert register_tenant(conn, "acme") is True
        # No transaction was open, so it committed: another connection sees the row.
        assert [t.id for t in list_tenants(postgres_db)] == ["acme"]


def test_migrate_refuses_a_connection_inside_a_transaction(postgres_db: str) -> None:
    with psycopg.connect(postgres_db) as conn:
        conn.execute("SELECT 1")
        with pytest.raises(ValueError, match="transaction"):
            migrate(conn, "acme")


def test_migrate_rejects_bad_tenant_ids_and_targets(postgres_db: str) -> None:
    for bad in ("Acme", "1acme", "acme;drop", "a" * 49, "acme\n", ""):
        with pytest.raises(ValueError, match="invalid tenant id"):
            migrate(postgres_db, bad)
    with pytest.raises(ValueError, match="out of range"):
        migrate(postgres_db, "acme", target=99)
    assert _tables(postgres_db, "public") == set()


def test_concurrent_migrations_do_not_race(postgres_db: str) -> None:
    results: list[list[tuple[str, int]]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(_steps(migrate(postgres_db, "acme")))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(results) == [[], [], [], [("up", v) for v in _in_run_order()]]


def test_tenant_schemas_are_isolated(postgres_db: str) -> None:
    for tenant in ("acme", "globex"):
        migrate(postgres_db, tenant)
    a1 = append_audit(postgres_db, "acme", actor="alice", action="source.add", detail={"bucket": "acme-cur"})
    append_audit(postgres_db, "acme", actor="alice", action="source.remove")
    append_audit(postgres_db, "globex", actor="bob", action="token.create", detail={"scopes": ["read"]})

    acme, globex = read_audit(postgres_db, "acme"), read_audit(postgres_db, "globex")
    assert [(e.actor, e.action, e.detail) for e in acme] == [
        ("alice", "source.remove", None),
        ("alice", "source.add", {"bucket": "acme-cur"}),
    ]
    assert acme[-1].id == a1
    assert acme[0].at.tzinfo is not None
    assert [(e.actor, e.action, e.detail) for e in globex] == [("bob", "token.create", {"scopes": ["read"]})]
    assert read_audit(postgres_db, "acme", limit=1) == acme[:1]

    # The rows physically live in separate schemas.
    with psycopg.connect(postgres_db) as conn:
        for tenant, expected in (("acme", 2), ("globex", 1)):
            table = sql.Identifier(schema_for(tenant), "audit_log")
            count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
            assert count == (expected,)

    # Reverting one tenant leaves the other intact.
    migrate(postgres_db, "acme", target=0)
    assert len(read_audit(postgres_db, "globex")) == 1
    with pytest.raises(ConfigError, match="cloudops migrate --tenant acme"):
        read_audit(postgres_db, "acme")


def test_audit_on_an_unmigrated_tenant_says_what_to_do(postgres_db: str) -> None:
    with pytest.raises(ConfigError, match=r"tenant_nobody\.audit_log does not exist"):
        append_audit(postgres_db, "nobody", actor="x", action="y")


def test_register_tenant_is_idempotent(postgres_db: str) -> None:
    with pytest.raises(ConfigError, match="run the control-plane migrations"):
        register_tenant(postgres_db, "acme")
    migrate(postgres_db, "acme")

    assert register_tenant(postgres_db, "acme") is True
    assert register_tenant(postgres_db, "acme") is False
    [first] = list_tenants(postgres_db)
    assert (first.id, first.display_name) == ("acme", "acme")

    # A later display name replaces the default; registering without one keeps it.
    assert register_tenant(postgres_db, "acme", "ACME Corp") is False
    assert register_tenant(postgres_db, "acme") is False
    [again] = list_tenants(postgres_db)
    assert (again.display_name, again.created_at) == ("ACME Corp", first.created_at)

    assert register_tenant(postgres_db, "globex", "Globex") is True
    assert [(t.id, t.display_name) for t in list_tenants(postgres_db)] == [
        ("acme", "ACME Corp"),
        ("globex", "Globex"),
    ]

    with pytest.raises(ValueError, match="invalid tenant id"):
        register_tenant(postgres_db, "Not-A-Tenant")


def test_registry_rejects_invalid_ids_even_from_raw_sql(postgres_db: str) -> None:
    migrate(postgres_db, "acme")
    with psycopg.connect(postgres_db) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("INSERT INTO public.tenants (id, display_name) VALUES ('Bad-Id', 'x')")


def test_register_tenant_joins_the_callers_transaction(postgres_db: str) -> None:
    migrate(postgres_db, "acme")
    with psycopg.connect(postgres_db) as conn:
        conn.execute("SELECT 1")  # the caller's transaction is open
        assert register_tenant(conn, "acme") is True
        append_audit(conn, "acme", actor="alice", action="tenant.create")
        conn.rollback()
    assert list_tenants(postgres_db) == []
    assert read_audit(postgres_db, "acme") == []


def test_unreachable_server_is_transient() -> None:
    with pytest.raises(TransientError) as info:
        connect("postgresql://postgres:s3cret@127.0.0.1:1/postgres?connect_timeout=2")
    assert "s3cret" not in str(info.value)
