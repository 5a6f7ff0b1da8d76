"""The ``cloudops tokens`` and ``cloudops api`` commands (registered by :mod:`cloudops.cli`).

Thin: every command calls :mod:`cloudops.service.tokens` or starts the ASGI app. CLI
mutations are audited with actor ``cli:<os user>`` and a fresh request id per command.
"""

from __future__ import annotations

import getpass
import uuid
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cloudops.errors import ConfigError
from cloudops.settings import get_settings

__all__ = ["register"]

tokens_app = typer.Typer(
    help="API tokens: create (shown once), list, revoke (needs CLOUDOPS_POSTGRES__DSN).", no_args_is_help=True
)
console = Console()


def _dsn() -> str:
    dsn = get_settings().postgres.dsn
    if not dsn:
        raise ConfigError("tokens live in the control plane: set CLOUDOPS_POSTGRES__DSN and run `cloudops migrate`")
    return dsn


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@tokens_app.command("create")
def tokens_create(
    scope: Annotated[list[str], typer.Option("--scope", "-s", help="A scope (repeat, or comma-separated).")],
    tenant: Annotated[str | None, typer.Option(help="The tenant the token acts for.")] = None,
    platform_admin: Annotated[
        bool, typer.Option("--platform-admin", help="A token bound to no tenant (tenants, dead letters, tokens).")
    ] = False,
    name: Annotated[str, typer.Option(help="What the token is for (a person, a system).")] = "api",
    expires: Annotated[str, typer.Option(help="30d, 12h, 2w, an ISO date/time, or never.")] = "90d",
    rate_limit: Annotated[
        int | None, typer.Option(help="Requests per minute (default: CLOUDOPS_API__RATE_LIMIT_PER_MIN).")
    ] = None,
) -> None:
    """Create a token and print it once: it is stored hashed and cannot be shown again."""
    from cloudops.service.tokens import create_token, parse_expiry

    if (tenant is None) == (not platform_admin):
        raise ConfigError("give --tenant T, or --platform-admin for a token bound to no tenant")
    try:
        issued = create_token(
            _dsn(),
            tenant=tenant,
            scopes=[s for item in scope for s in item.split(",")],
            name=name,
            expires_at=parse_expiry(expires),
            actor=_actor(),
            request_id=f"cli-{uuid.uuid4()}",
            rate_limit_per_min=rate_limit,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    t = issued.token
    console.print(issued.secret, soft_wrap=True, highlight=False)
    console.print(
        f"token {t.id} ({t.name}) for {t.tenant or 'the platform (admin)'}: {', '.join(t.scopes)}; "
        f"expires {t.expires_at.isoformat(timespec='seconds') if t.expires_at else 'never'}. "
        "Store it now: it is not shown again.",
        style="dim",
        highlight=False,
    )


@tokens_app.command("list")
def tokens_list(
    tenant: Annotated[str | None, typer.Option(help="This tenant's tokens.")] = None,
    platform_admin: Annotated[bool, typer.Option("--platform-admin", help="The platform-admin tokens.")] = False,
    all_tenants: Annotated[bool, typer.Option("--all", help="Every token.")] = False,
    revoked: Annotated[bool, typer.Option("--revoked", help="Include revoked tokens.")] = False,
) -> None:
    """Tokens (never their secrets): scopes, expiry, last use."""
    from cloudops.service.tokens import list_tokens

    if sum([tenant is not None, platform_admin, all_tenants]) != 1:
        raise ConfigError("give one of --tenant T, --platform-admin or --all")
    tokens = list_tokens(_dsn(), tenant=tenant, all_tenants=all_tenants, include_revoked=revoked)
    table = Table("id", "tenant", "name", "scopes", "expires", "last used", "revoked", title="API tokens")
    for t in tokens:
        table.add_row(
            t.id,
            t.tenant or "(platform)",
            t.name,
            ", ".join(t.scopes),
            t.expires_at.isoformat(timespec="seconds") if t.expires_at else "never",
            t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "-",
            t.revoked_at.isoformat(timespec="seconds") if t.revoked_at else "-",
        )
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (16 hex digits, as `tokens list` shows).")],
    tenant: Annotated[str | None, typer.Option(help="Refuse unless the token belongs to this tenant.")] = None,
) -> None:
    """Revoke a token at once (idempotent)."""
    from cloudops.service.tokens import revoke_token

    t = revoke_token(_dsn(), token_id, actor=_actor(), request_id=f"cli-{uuid.uuid4()}", tenant=tenant)
    console.print(f"token {t.id} ({t.name}) revoked at {t.revoked_at:%Y-%m-%d %H:%M:%S}")


def api(
    host: Annotated[str | None, typer.Option(help="Address (default: CLOUDOPS_API__HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: CLOUDOPS_API__PORT).")] = None,
    gateway_url: Annotated[
        str | None,
        typer.Option(
            help="Apollo Gateway (gateway/server.mjs) that POST /graphql passes operations to "
            "(default: CLOUDOPS_API__GATEWAY_URL; empty: /graphql answers single-subgraph operations itself)."
        ),
    ] = None,
) -> None:
    """Serve the API: REST (/v1, OpenAPI at /openapi.json), GraphQL (/graphql and the subgraphs),
    subscriptions, /metrics and the web UI."""
    import uvicorn

    from cloudops.api.app import create_api

    settings = get_settings()
    uvicorn.run(
        create_api(settings, gateway_url=gateway_url),
        host=host or settings.api.host,
        port=settings.api.port if port is None else port,
        log_level=settings.app.log_level.lower(),
        ws="websockets-sansio",
    )


def register(app: typer.Typer) -> None:
    """Add ``tokens`` and ``api`` to the ``cloudops`` command."""
    app.add_typer(tokens_app, name="tokens")
    app.command("api")(api)
