"""Tenant lifecycle use cases: create, list, show, suspend, resume, delete (two-step), purge.

A tenant owns a PostgreSQL schema ``tenant_<t>`` (sources, file ledger, periods,
recommendations, audit log), a ClickHouse database ``tenant_<t>`` (plus a reader user and
role where the server allows access management), and the Redis keys under
``cloudops:<t>:``. States::

    active <-> suspended          (suspended: no ingest, no pull requests; data stays readable)
    active | suspended -> deleting -> purged (no row; only the audit record remains)
    deleting -> active            (resume cancels a deletion before the purge)

Every function is platform-only (a tenant-bound caller cannot manage tenants), blocks the
calling thread (network round trips to PostgreSQL, ClickHouse and Redis: call through
``asyncio.to_thread`` from async code), and writes one ``public.audit_log`` row per
mutation in the same PostgreSQL transaction as the mutation. The ClickHouse and Redis
steps are idempotent, so a create or purge interrupted half-way is completed by running it
again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from cloudops.service.context import (
    Caller,
    Conflict,
    InvalidInput,
    NotFound,
    audit,
    control_plane,
)
from cloudops.settings import validate_tenant
from cloudops.sinks import postgres as pg
from cloudops.sinks.postgres import tenants as registry
from cloudops.sinks.postgres.audit_trail import read_trail

__all__ = [
    "IngestVerdict",
    "Provisioned",
    "TenantInfo",
    "create_tenant",
    "delete_tenant",
    "get_tenant",
    "ingest_verdict",
    "list_tenants",
    "purge_due_tenants",
    "purge_tenant",
    "resume_tenant",
    "suspend_tenant",
    "upgrade_tenants",
]

TenantInfo = registry.Tenant
IngestVerdict = Literal["active", "suspended", "deleting", "deleted", "unknown"]


@dataclass(frozen=True, slots=True)
class Provisioned:
    """What :func:`create_tenant` made (or found already there)."""

    tenant: TenantInfo
    created: bool
    postgres_steps: list[str]
    clickhouse_steps: list[str]
    clickhouse_user: bool | None  # None: no key configured; False: the server does not allow it
    redis_namespace: bool | None  # None: no Redis configured


def _check_id(tenant: str) -> str:
    try:
        return validate_tenant(tenant)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def create_tenant(caller: Caller, tenant: str, *, display_name: str | None = None) -> Provisioned:
    """Provision a tenant: PostgreSQL schema (migrated), ClickHouse database (migrated; reader user
    where allowed), Redis namespace; register it as ``active``. Idempotent: creating an existing
    tenant brings its stores up to date and returns ``created=False``.

    Raises Forbidden (not a platform caller), InvalidInput (bad id), Conflict (the tenant is
    being deleted: resume it instead), ConfigError (no control plane), TransientError.
    """
    caller.require_platform()
    tenant = _check_id(tenant)
    settings = caller.settings
    dsn = caller.dsn
    pg.migrate_public(dsn)
    existing = registry.get_tenant(dsn, tenant)
    if existing is not None and existing.state == "deleting":
        raise Conflict(f"tenant {tenant!r} is being deleted: `cloudops tenants resume {tenant}` cancels that")
    pg_steps = [f"{d} {m.version:04d} {m.name}" for d, m in pg.migrate(dsn, tenant)]
    ch_steps, user = _provision_clickhouse(caller, tenant)
    namespace: bool | None = None
    if settings.redis.url:
        from cloudops.sinks.redis.namespace import ensure_namespace

        namespace = ensure_namespace(settings.redis.url, tenant)
    with control_plane(caller) as conn:
        created = registry.register_tenant(conn, tenant, display_name)
        row = registry.lock_tenant(conn, tenant)
        assert row is not None
        if created or pg_steps or ch_steps:
            audit(
                conn,
                caller,
                "tenant.created" if created else "tenant.provisioned",
                tenant=tenant,
                target=f"tenant:{tenant}",
                before=None if created or existing is None else existing.as_dict(),
                after={**row.as_dict(), "postgres_steps": pg_steps, "clickhouse_steps": ch_steps},
            )
    return Provisioned(row, created, pg_steps, ch_steps, user, namespace)


def _provision_clickhouse(caller: Caller, tenant: str) -> tuple[list[str], bool | None]:
    from cloudops.sinks.clickhouse import connect
    from cloudops.sinks.clickhouse import migrate as ch_migrate

    settings = caller.settings
    ch = connect(settings.clickhouse_dsn)
    steps = ch_migrate(ch, tenant, dedup_window=settings.clickhouse.dedup_window, cluster=settings.clickhouse.cluster)
    user: bool | None = None
    key = settings.clickhouse.tenant_password_key
    if key is not None:
        from cloudops.sinks.clickhouse.access import provision_tenant_user

        user = provision_tenant_user(ch, tenant, key.get_secret_value())
    return [f"{d} {m.version:04d} {m.name}" for d, m in steps], user


def upgrade_tenants(caller: Caller) -> list[Provisioned]:
    """Bring every registered tenant's stores up to date (after an upgrade brought new migrations):
    :func:`create_tenant` for each, skipping tenants being deleted. Idempotent. Platform only."""
    caller.require_platform()
    pg.migrate_public(caller.dsn)
    return [
        create_tenant(caller, t.id) for t in registry.list_tenants(caller.dsn) if t.state in ("active", "suspended")
    ]


def list_tenants(caller: Caller) -> list[TenantInfo]:
    """Every tenant (platform callers), or only the caller's own (tenant-bound callers). Blocks."""
    tenants = registry.list_tenants(caller.dsn)
    if caller.platform:
        return tenants
    return [t for t in tenants if t.id == caller.tenant]


def get_tenant(caller: Caller, tenant: str | None = None) -> TenantInfo:
    """One tenant (default: the caller's); NotFound if it does not exist or is not the caller's."""
    target = caller.acting_for(_check_id(tenant)) if tenant is not None else caller
    row = registry.get_tenant(caller.dsn, target.tenant_id)
    if row is None:
        raise NotFound(f"no tenant {target.tenant_id!r} (see `cloudops tenants list`)")
    return row


def _move(
    caller: Caller,
    tenant: str,
    to: registry.TenantState,
    allowed_from: tuple[str, ...],
    action: str,
    *,
    purge_after: datetime | None = None,
    reason: str | None = None,
) -> TenantInfo:
    caller.require_platform()
    tenant = _check_id(tenant)
    with control_plane(caller) as conn:
        before = registry.lock_tenant(conn, tenant)
        if before is None:
            raise NotFound(f"no tenant {tenant!r} (see `cloudops tenants list`)")
        if before.state == to and to != "deleting":
            return before
        if before.state not in allowed_from:
            raise Conflict(f"tenant {tenant!r} is {before.state}: cannot {action.split('.')[-1]} it")
        after = registry.set_tenant_state(conn, tenant, to, purge_after=purge_after, reason=reason)
        audit(
            conn,
            caller,
            action,
            tenant=tenant,
            target=f"tenant:{tenant}",
            before=before.as_dict(),
            after=after.as_dict(),
        )
    return after


def suspend_tenant(caller: Caller, tenant: str, *, reason: str | None = None) -> TenantInfo:
    """Stop ingest and pull requests for the tenant (its data stays queryable). Idempotent.

    Events that arrive for a suspended tenant are dead-lettered with the reason (replay them
    after resuming). Raises NotFound, Conflict (being deleted), Forbidden.
    """
    return _move(caller, tenant, "suspended", ("active",), "tenant.suspended", reason=reason)


def resume_tenant(caller: Caller, tenant: str) -> TenantInfo:
    """Make a suspended tenant active again, or cancel a deletion before its purge. Idempotent."""
    return _move(caller, tenant, "active", ("suspended", "deleting"), "tenant.resumed")


def delete_tenant(
    caller: Caller, tenant: str, *, now: bool = False, grace: timedelta | None = None, reason: str | None = None
) -> TenantInfo | None:
    """Step one of two: mark the tenant ``deleting`` (ingest and PRs stop at once) with a purge time
    ``grace`` from now (default ``CLOUDOPS_APP__TENANT_DELETE_GRACE_S``). With ``now``, purge at once
    (step two) and return None. Marking again keeps the earlier purge time unless ``grace`` is given.

    Raises NotFound, Forbidden; the purge raises like :func:`purge_tenant`.
    """
    caller.require_platform()
    tenant = _check_id(tenant)
    wait = grace if grace is not None else timedelta(seconds=caller.settings.app.tenant_delete_grace_s)
    current = registry.get_tenant(caller.dsn, tenant)
    if current is None:
        raise NotFound(f"no tenant {tenant!r} (see `cloudops tenants list`)")
    if current.state != "deleting" or grace is not None or now:
        purge_at = datetime.now(UTC) + (timedelta(0) if now else wait)
        current = _move(
            caller,
            tenant,
            "deleting",
            ("active", "suspended", "deleting"),
            "tenant.delete_requested",
            purge_after=purge_at,
            reason=reason,
        )
    if now:
        purge_tenant(caller, tenant)
        return None
    return current


def purge_tenant(caller: Caller, tenant: str) -> dict[str, object]:
    """Step two: drop everything the tenant owns, if it is ``deleting`` and its purge time has come.

    Drops the ClickHouse database (and user/role), the Redis keys, the PostgreSQL schema and
    the tenant's row (its API tokens go with it), and appends ``tenant.purged`` to
    ``public.audit_log`` (which survives: it is the record of the deletion). Returns what was
    removed. Idempotent across crashes: the store steps are repeatable and the row goes last.
    Raises NotFound, Conflict (not marked, or its purge time has not come), Forbidden.
    """
    caller.require_platform()
    tenant = _check_id(tenant)
    row = registry.get_tenant(caller.dsn, tenant)
    if row is None:
        raise NotFound(f"no tenant {tenant!r}")
    if row.state != "deleting":
        raise Conflict(f"tenant {tenant!r} is {row.state}: `cloudops tenants delete {tenant}` marks it first")
    if row.purge_after is not None and row.purge_after > datetime.now(UTC):
        raise Conflict(f"tenant {tenant!r} is purged after {row.purge_after:%Y-%m-%d %H:%M:%S %Z} (or use --now)")
    settings = caller.settings
    removed: dict[str, object] = {}
    from cloudops.sinks.clickhouse import connect
    from cloudops.sinks.clickhouse.tenancy import drop_tenant

    removed["clickhouse_database"] = drop_tenant(connect(settings.clickhouse_dsn), tenant)
    if settings.redis.url:
        from cloudops.sinks.redis.namespace import purge_namespace

        removed["redis_keys"] = purge_namespace(settings.redis.url, tenant)
    with control_plane(caller) as conn:
        locked = registry.lock_tenant(conn, tenant)
        if locked is None or locked.state != "deleting":
            raise Conflict(
                f"tenant {tenant!r} changed while it was being purged (resumed?): nothing dropped in PostgreSQL"
            )
        removed["postgres_schema"] = registry.drop_tenant_schema(conn, tenant)
        registry.remove_tenant(conn, tenant)
        audit(
            conn,
            caller,
            "tenant.purged",
            tenant=tenant,
            target=f"tenant:{tenant}",
            before=locked.as_dict(),
            after=removed,
        )
    return removed


def purge_due_tenants(caller: Caller) -> list[str]:
    """Purge every tenant marked ``deleting`` whose purge time has passed; returns their ids. Blocks."""
    caller.require_platform()
    now = datetime.now(UTC)
    done = []
    for t in registry.list_tenants(caller.dsn, states=("deleting",)):
        if t.purge_after is None or t.purge_after <= now:
            purge_tenant(caller, t.id)
            done.append(t.id)
    return done


def ingest_verdict(dsn: str, tenant: str) -> IngestVerdict:
    """May work be done for ``tenant``? ``active`` yes; ``suspended``/``deleting`` not now;
    ``deleted``: purged (its audit trail says so); ``unknown``: never registered. Blocks."""
    row = registry.get_tenant(dsn, tenant)
    if row is not None:
        return row.state
    if read_trail(dsn, tenant, action="tenant.purged", limit=1):
        return "deleted"
    return "unknown"
