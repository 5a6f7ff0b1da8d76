"""``cloudops recommendations list|show|dismiss|snooze``: thin over :mod:`cloudops.service.recommendations`."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from cloudops.commands._common import OutputFormat, TenantOpt, caller, console
from cloudops.service import recommendations as svc

__all__ = ["recommendations_app"]

recommendations_app = typer.Typer(
    help="Savings recommendations of a tenant and their lifecycle (needs CLOUDOPS_POSTGRES__DSN).",
    no_args_is_help=True,
)


@recommendations_app.command("list")
def list_(
    state: Annotated[list[str] | None, typer.Option(help="Only these states (repeat): open, pr_open, ...")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this recommender.")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = OutputFormat.table,
    tenant: TenantOpt = None,
) -> None:
    """Recommendations, largest monthly savings first."""
    c = caller(tenant)
    rows = svc.list_recommendations(c, state=state, kind=kind)
    if fmt is not OutputFormat.table:
        doc = [
            {
                "fingerprint": r.fingerprint,
                "kind": r.kind,
                "resource_id": r.resource_id,
                "state": r.state,
                "monthly_savings": str(r.monthly_savings),
                "currency": r.currency,
                "pr_url": r.pr_url,
                "reason": r.reason,
            }
            for r in rows
        ]
        print(json.dumps(doc, indent=2))
        return
    table = Table(
        "fingerprint",
        "kind",
        "resource",
        "state",
        "saves/month",
        "PR",
        "reason",
        title=f"recommendations ({c.tenant_id})",
    )
    for r in rows:
        table.add_row(
            r.fingerprint[:16],
            r.kind,
            r.resource_id,
            r.state,
            f"{r.monthly_savings:.2f} {r.currency}",
            r.pr_url or "-",
            r.reason or "",
        )
    console.print(table)


@recommendations_app.command("show")
def show(fingerprint: Annotated[str, typer.Argument(help="Fingerprint.")], tenant: TenantOpt = None) -> None:
    """One recommendation in full (JSON)."""
    r = svc.get_recommendation(caller(tenant), fingerprint)
    doc = {
        "state": r.state,
        "reason": r.reason,
        "times_seen": r.times_seen,
        "pr_url": r.pr_url,
        "recommendation": r.recommendation.model_dump(mode="json"),
    }
    print(json.dumps(doc, indent=2))


@recommendations_app.command("dismiss")
def dismiss(
    fingerprint: Annotated[str, typer.Argument(help="Fingerprint.")],
    reason: Annotated[str, typer.Option(help="Why (required; kept in the audit log).")],
    tenant: TenantOpt = None,
) -> None:
    """Dismiss a recommendation: not proposed again unless its savings change materially."""
    r = svc.dismiss_recommendation(caller(tenant), fingerprint, reason=reason)
    console.print(f"{r.fingerprint} is {r.state}: {r.reason}")


@recommendations_app.command("snooze")
def snooze(
    fingerprint: Annotated[str, typer.Argument(help="Fingerprint.")],
    reason: Annotated[str, typer.Option(help="Why (required; kept in the audit log).")],
    days: Annotated[float, typer.Option(help="For how many days.")] = 30.0,
    tenant: TenantOpt = None,
) -> None:
    """Dismiss a recommendation for a while; then it may be proposed again."""
    r = svc.snooze_recommendation(caller(tenant), fingerprint, reason=reason, duration=timedelta(days=days))
    console.print(f"{r.fingerprint} is snoozed for {days:g} day(s): {r.reason}")
