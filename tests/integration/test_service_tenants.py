"""The service layer against real stores: tenants provisioned and purged in PostgreSQL, ClickHouse
(chdb) and Redis; sources routed by bucket and prefix; every mutation audited; the audit table
append-only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from cloudops.service import Caller, Conflict, Forbidden, InvalidInput, NotFound
from cloudops.service import files as files_svc
from cloudops.service import sources as sources_svc
from cloudops.service import tenants as tenants_svc
from cloudops.service.routing import load_route_table
from cloudops.settings import Settings
from cloudops.sinks.clickhouse import connect
from cloudops.sinks.clickhouse.tenancy import database_exists
from cloudops.sinks.postgres import all_migrations
from cloudops.sinks.postgres import migrate as pg_migrate
from cloudops.sinks.postgres.audit import append_audit
from cloudops.sinks.postgres.audit_trail import read_trail
from cloudops.sinks.postgres.tenants import tenant_schema_exists
from cloudops.sinks.redis.namespace import namespace_keys
from cloudops.sources.routing import Unroutable

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(tmp_path: Path, chdb_dsn: str, postgres_db: str, redis_url: str) -> Settings:
    return Settings(
        app={"work_dir": tmp_path / "work"},
        clickhouse={"dsn": chdb_dsn},
        postgres={"dsn": postgres_db},
        redis={"url": redis_url},
    )


def _op(settings: Settings) -> Caller:
    return Caller(actor="test:operator", tenant=None, settings=settings, platform=True)


def test_tenant_lifecycle_provisions_and_purges_everything(settings: Settings, tenant_id: str) -> None:
    op = _op(settings)
    made = tenants_svc.create_tenant(op, tenant_id, display_name="Acme")
    assert made.created
    assert made.tenant.state == "active"
    assert made.postgres_steps
    assert made.clickhouse_steps
    dsn = settings.postgres.dsn
    assert dsn is not None
    assert settings.redis.url is not None
    ch = connect(settings.clickhouse_dsn)
    assert database_exists(ch, tenant_id)
    assert tenant_schema_exists(dsn, tenant_id)
    assert namespace_keys(settings.redis.url, tenant_id) == [f"cloudops:{tenant_id}:data_version"]

    again = tenants_svc.create_tenant(op, tenant_id)
    assert not again.created
    assert not again.postgres_steps

    # After an upgrade brought a new tenant migration, `tenants upgrade` applies it to every tenant.
    last, before_last = [m for m in all_migrations() if m.scope == "tenant"][-1:-3:-1]
    pg_migrate(dsn, tenant_id, target=before_last.version)
    [upgraded] = tenants_svc.upgrade_tenants(op)
    assert upgraded.postgres_steps == [f"up {last.version:04d} {last.name}"]
    assert tenants_svc.upgrade_tenants(op)[0].postgres_steps == []

    assert tenants_svc.suspend_tenant(op, tenant_id, reason="unpaid").state == "suspended"
    assert tenants_svc.resume_tenant(op, tenant_id).state == "active"

    # A tenant-bound caller cannot manage tenants, nor act for another tenant.
    bound = Caller(actor="token:x", tenant=tenant_id, settings=settings)
    with pytest.raises(Forbidden):
        tenants_svc.delete_tenant(bound, tenant_id, now=True)
    with pytest.raises(Forbidden):
        bound.acting_for("someone_else")
    assert [t.id for t in tenants_svc.list_tenants(bound)] == [tenant_id]

    marked = tenants_svc.delete_tenant(op, tenant_id, grace=timedelta(hours=1))
    assert marked is not None
    assert marked.state == "deleting"
    assert marked.purge_after is not None
    with pytest.raises(Conflict, match="purged after"):
        tenants_svc.purge_tenant(op, tenant_id)
    assert tenants_svc.purge_due_tenants(op) == []
    with pytest.raises(Conflict, match="being deleted"):
        sources_svc.add_source(bound, "aws", provider="aws", bucket="b")
    assert tenants_svc.ingest_verdict(dsn, tenant_id) == "deleting"

    assert tenants_svc.delete_tenant(op, tenant_id, now=True) is None
    assert not database_exists(ch, tenant_id)
    assert not tenant_schema_exists(dsn, tenant_id)
    assert namespace_keys(settings.redis.url, tenant_id) == []
    assert tenants_svc.list_tenants(op) == []
    assert tenants_svc.ingest_verdict(dsn, tenant_id) == "deleted"
    assert tenants_svc.ingest_verdict(dsn, "never_there") == "unknown"

    actions = [r.action for r in reversed(read_trail(dsn, tenant_id))]
    assert actions == [
        "tenant.created",
        "tenant.provisioned",
        "tenant.suspended",
        "tenant.resumed",
        "tenant.delete_requested",
        "tenant.delete_requested",
        "tenant.purged",
    ]
    purged = read_trail(dsn, tenant_id, action="tenant.purged")[0]
    assert purged.actor == "test:operator"
    assert purged.before["state"] == "deleting"
    assert purged.after == {"clickhouse_database": True, "redis_keys": 1, "postgres_schema": True}


def test_audit_log_refuses_update_and_delete(settings: Settings, tenant_id: str) -> None:
    tenants_svc.create_tenant(_op(settings), tenant_id)
    dsn = settings.postgres.dsn
    assert dsn is not None
    with psycopg.connect(dsn, autocommit=True) as conn:
        for stmt in (
            "UPDATE public.audit_log SET actor = 'x'",
            "DELETE FROM public.audit_log",
            "TRUNCATE public.audit_log",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(stmt)  # type: ignore[arg-type]
        append_audit(conn, tenant_id, actor="test", action="probe")  # row triggers need a row
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(f"DELETE FROM tenant_{tenant_id}.audit_log")  # type: ignore[arg-type]
    assert read_trail(dsn, tenant_id)[0].action == "tenant.created"


def test_sources_are_tenant_bound_validated_and_routed(settings: Settings, tenant_id: str) -> None:
    op = _op(settings)
    a, b = f"{tenant_id}a", f"{tenant_id}b"
    for t in (a, b):
        tenants_svc.create_tenant(op, t)
    ca = Caller(actor="cli:alice", tenant=a, settings=settings, request_id="req-1")
    cb = Caller(actor="cli:bob", tenant=b, settings=settings)
    sources_svc.add_source(ca, "cur", provider="aws", bucket="shared", prefix="acme/")
    sources_svc.add_source(ca, "cur-legacy", provider="aws", bucket="shared", prefix="acme/legacy/")
    sources_svc.add_source(
        cb,
        "cur",
        provider="aws",
        bucket="shared",
        prefix="beta/",
        credentials_ref="aws-role:arn:aws:iam::1:role/r",
        external_id="ext-b",
        region="eu-west-1",
    )
    with pytest.raises(Conflict, match="overlaps a source of another tenant"):
        sources_svc.add_source(cb, "all", provider="aws", bucket="shared", prefix="")
    with pytest.raises(InvalidInput, match="reference, never a secret"):
        sources_svc.add_source(ca, "x", provider="aws", bucket="b", credentials_ref="AKIAXXXXSECRET")
    with pytest.raises(InvalidInput, match="unknown provider"):
        sources_svc.add_source(ca, "x", provider="ibm", bucket="b")
    with pytest.raises(NotFound):
        sources_svc.get_source(ca, "nope")

    assert [s.id for s in sources_svc.list_sources(ca)] == ["cur", "cur-legacy"]
    assert [s.id for s in sources_svc.list_sources(cb)] == ["cur"]  # b never sees a's sources
    updated = sources_svc.update_source(ca, "cur", schedule_s=3600)
    assert updated.schedule_s == 3600
    assert updated.prefix == "acme/"

    dsn = settings.postgres.dsn
    assert dsn is not None
    table, _rows = load_route_table(dsn)
    assert (
        table.route("shared", "acme/2024/x.csv") == (a, "cur")
        or table.route("shared", "acme/2024/x.csv").source_id == "cur"
    )
    assert table.route("shared", "acme/legacy/x.csv").source_id == "cur-legacy"  # longest prefix wins
    assert table.route("shared", "beta/x.csv").tenant == b
    with pytest.raises(Unroutable, match="matches no source"):
        table.route("shared", "gamma/x.csv")

    tenants_svc.suspend_tenant(op, b)
    table, _rows = load_route_table(dsn)
    with pytest.raises(Unroutable, match="suspended"):
        table.route("shared", "beta/x.csv")

    removed = sources_svc.remove_source(ca, "cur-legacy")
    assert removed.id == "cur-legacy"
    assert files_svc.list_files(ca) == []
    trail = read_trail(dsn, a)
    assert [r.action for r in trail[:4]] == ["source.removed", "source.updated", "source.added", "source.added"]
    assert trail[1].before["schedule_s"] is None
    assert trail[1].after["schedule_s"] == 3600
    assert trail[2].request_id == "req-1"
    assert trail[2].actor == "cli:alice"
