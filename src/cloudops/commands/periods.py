"""``cloudops periods list``: versions of restated billing periods, thin over :mod:`cloudops.service.periods`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cloudops.commands._common import TenantOpt, caller, console, totals
from cloudops.service import periods as svc

__all__ = ["periods_app"]

periods_app = typer.Typer(
    help="Versions of restated billing periods (needs CLOUDOPS_POSTGRES__DSN).", no_args_is_help=True
)


@periods_app.command("list")
def list_(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    tenant: TenantOpt = None,
) -> None:
    """Every version of every billing period: which one is live, which are loading or superseded."""
    c = caller(tenant)
    table = Table(
        "source", "period", "version", "state", "files", "rows", "cost", "delivered", title=f"periods ({c.tenant_id})"
    )
    for v in svc.list_periods(c, source_id=source):
        table.add_row(
            v.source_id,
            f"{v.period:%Y-%m}",
            v.version,
            v.state,
            str(len(v.files)),
            "-" if v.rows_landed is None else f"{v.rows_landed:,}",
            totals(v.landed_totals or {}),
            f"{v.delivered_at:%Y-%m-%d %H:%M:%S}",
        )
    console.print(table)
