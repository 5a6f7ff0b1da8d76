"""What every command group shares: consoles, the caller, output formats, the --tenant option."""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console

from cloudops.service import Caller
from cloudops.settings import get_settings

__all__ = ["OutputFormat", "TenantOpt", "caller", "console", "err", "operator", "totals"]

console = Console()
err = Console(stderr=True)

TenantOpt = Annotated[str | None, typer.Option("--tenant", "-t", help="Tenant (default: CLOUDOPS_APP__TENANT).")]


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def caller(tenant: str | None) -> Caller:
    """The operator running the CLI, acting for ``tenant`` (default: ``CLOUDOPS_APP__TENANT``).

    The id is validated here (InvalidInput: a one-line error); whether the tenant exists is
    checked by the use case.
    """
    settings = get_settings()
    return Caller(actor=_actor(), tenant=tenant or settings.app.tenant, settings=settings, platform=True)


def operator() -> Caller:
    """The operator running the CLI, not acting for any tenant (tenant management, all DLQs)."""
    return Caller(actor=_actor(), tenant=None, settings=get_settings(), platform=True)


def totals(values: Mapping[str, object]) -> str:
    """``EUR 4.56, USD 1.23`` (sorted by currency, money as text: never ``0E-10``), ``-`` when empty."""
    from cloudops.schemas.money import totals_text

    return totals_text(values)
