"""``cloudops files list|show``: the tenant's file ledger, thin over :mod:`cloudops.service.files`."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from cloudops.commands._common import OutputFormat, TenantOpt, caller, console, totals
from cloudops.service import files as svc

__all__ = ["files_app"]

files_app = typer.Typer(help="The file ledger of a tenant (needs CLOUDOPS_POSTGRES__DSN).", no_args_is_help=True)


@files_app.command("list")
def list_(
    state: Annotated[
        str | None, typer.Option(help="Only files in this state (seen, parsing, ..., reconciled).")
    ] = None,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = OutputFormat.table,
    tenant: TenantOpt = None,
) -> None:
    """Billing files seen for the tenant and what became of each."""
    c = caller(tenant)
    rows = svc.list_files(c, state=state, source_id=source, limit=limit)
    if fmt is not OutputFormat.table:
        doc = [
            {
                "file_id": r.file_id,
                "source": r.source_id,
                "url": r.url,
                "state": r.state,
                "rows_in": r.rows_in,
                "rows_landed": r.rows_landed,
                "rows_rejected": r.rows_rejected,
                "landed_totals": r.landed_totals,
                "warnings": r.warnings or [],  # data-quality warnings per FOCUS column (values left null)
                "updated_at": r.updated_at.isoformat(),
            }
            for r in rows
        ]
        print(json.dumps(doc, indent=2))
        return
    table = Table(
        "file", "source", "object", "state", "rows in", "landed", "rejected", "cost", title=f"files ({c.tenant_id})"
    )
    for r in rows:
        table.add_row(
            r.file_id[:12],
            r.source_id,
            r.object_key,
            r.state,
            "-" if r.rows_in is None else str(r.rows_in),
            "-" if r.rows_landed is None else str(r.rows_landed),
            "-" if r.rows_rejected is None else str(r.rows_rejected),
            totals(r.landed_totals or {}),
        )
    console.print(table)
