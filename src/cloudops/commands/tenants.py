"""``cloudops tenants create|list|show|suspend|resume|delete|purge``: thin over :mod:`cloudops.service.tenants`."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from cloudops.commands._common import console, err, operator
from cloudops.service import tenants as svc

__all__ = ["tenants_app"]

tenants_app = typer.Typer(
    help="Tenants: provision, suspend, resume, delete (needs CLOUDOPS_POSTGRES__DSN).", no_args_is_help=True
)


@tenants_app.command("create")
def create(
    tenant: Annotated[str, typer.Argument(help="Tenant id ([a-z][a-z0-9_]{0,47}).")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Provision a tenant: PostgreSQL schema, ClickHouse database (+ reader user where allowed), Redis namespace."""
    made = svc.create_tenant(operator(), tenant, display_name=name)
    for step in made.postgres_steps:
        console.print(f"{step}  (PostgreSQL tenant_{tenant})")
    for step in made.clickhouse_steps:
        console.print(f"{step}  (ClickHouse tenant_{tenant})")
    if made.clickhouse_user is True:
        console.print(f"ClickHouse user tenant_{tenant}: SELECT on tenant_{tenant} only")
    elif made.clickhouse_user is False:
        err.print(f"ClickHouse user tenant_{tenant} not created: the server does not allow it (see the log)")
    if made.redis_namespace is not None:
        console.print(f"Redis namespace cloudops:{tenant}:")
    console.print(f"{'created' if made.created else 'up to date:'} tenant {tenant} ({made.tenant.state})")


@tenants_app.command("upgrade")
def upgrade() -> None:
    """Bring every tenant's PostgreSQL schema and ClickHouse database up to date (after an upgrade)."""
    for made in svc.upgrade_tenants(operator()):
        steps = len(made.postgres_steps) + len(made.clickhouse_steps)
        console.print(
            f"tenant {made.tenant.id}: {steps} migration step(s)" if steps else f"tenant {made.tenant.id}: up to date"
        )


@tenants_app.command("list")
def list_() -> None:
    """Every tenant and its state."""
    table = Table("id", "name", "state", "since", "purge after", "reason", title="tenants")
    for t in svc.list_tenants(operator()):
        table.add_row(
            t.id,
            t.display_name,
            t.state,
            f"{t.state_changed_at:%Y-%m-%d %H:%M:%S}" if t.state_changed_at else "-",
            f"{t.purge_after:%Y-%m-%d %H:%M:%S}" if t.purge_after else "-",
            t.reason or "",
        )
    console.print(table)


@tenants_app.command("suspend")
def suspend(
    tenant: Annotated[str, typer.Argument(help="Tenant id.")],
    reason: Annotated[str | None, typer.Option(help="Why (kept with the tenant and in the audit log).")] = None,
) -> None:
    """Stop ingest and pull requests for a tenant (its data stays queryable; new events are dead-lettered)."""
    t = svc.suspend_tenant(operator(), tenant, reason=reason)
    console.print(f"tenant {t.id} is {t.state}")


@tenants_app.command("resume")
def resume(tenant: Annotated[str, typer.Argument(help="Tenant id.")]) -> None:
    """Make a suspended tenant active again, or cancel a deletion before its purge."""
    t = svc.resume_tenant(operator(), tenant)
    console.print(f"tenant {t.id} is {t.state}")


@tenants_app.command("delete")
def delete(
    tenant: Annotated[str, typer.Argument(help="Tenant id.")],
    now: Annotated[bool, typer.Option("--now", help="Purge at once instead of after the grace period.")] = False,
    grace_s: Annotated[
        float | None,
        typer.Option(help="Purge this many seconds from now (default CLOUDOPS_APP__TENANT_DELETE_GRACE_S)."),
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
) -> None:
    """Delete a tenant in two steps: mark it (ingest and PRs stop), then purge everything it owns
    after the grace period (`cloudops tenants purge`), or at once with --now."""
    grace = timedelta(seconds=grace_s) if grace_s is not None else None
    t = svc.delete_tenant(operator(), tenant, now=now, grace=grace, reason=reason)
    if t is None:
        console.print(f"tenant {tenant} purged: ClickHouse database, PostgreSQL schema and Redis keys dropped")
    else:
        when = f"{t.purge_after:%Y-%m-%d %H:%M:%S %Z}" if t.purge_after else "now"
        console.print(f"tenant {tenant} marked for deletion; purged after {when} (`cloudops tenants resume` cancels)")


@tenants_app.command("purge")
def purge() -> None:
    """Purge every tenant marked for deletion whose grace period has ended."""
    done = svc.purge_due_tenants(operator())
    console.print(f"purged {len(done)} tenant(s){': ' + ', '.join(done) if done else ''}")
