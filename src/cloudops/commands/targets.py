"""``cloudops targets set|list|remove``: where a tenant's savings PRs go, thin over :mod:`cloudops.service.targets`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cloudops.commands._common import TenantOpt, caller, console
from cloudops.service import targets as svc

__all__ = ["targets_app"]

targets_app = typer.Typer(
    help="Terraform targets of a tenant: repository, auth, state (needs CLOUDOPS_POSTGRES__DSN).", no_args_is_help=True
)


@targets_app.command("set")
def set_(
    target_id: Annotated[str, typer.Argument(help="Target id, e.g. prod.")],
    repository: Annotated[str, typer.Option(help="owner/name of the Terraform repository.")],
    base_branch: Annotated[str, typer.Option(help="Branch PRs target.")] = "main",
    path: Annotated[str, typer.Option(help="Folder of the Terraform root module in the repository.")] = "",
    app_installation_id: Annotated[int | None, typer.Option(help="GitHub App installation id.")] = None,
    app_id: Annotated[int | None, typer.Option(help="GitHub App id (unset: the deployment's App).")] = None,
    app_key_ref: Annotated[
        str | None, typer.Option(help="The App's private key: env:NAME or file:/path (never the key).")
    ] = None,
    token_ref: Annotated[
        str | None, typer.Option(help="Token reference: env:NAME or file:/path (never the token).")
    ] = None,
    state: Annotated[
        list[str] | None, typer.Option(help="Terraform state: s3://bucket/key or a path (repeat).")
    ] = None,
    api_url: Annotated[str | None, typer.Option(help="GitHub API root (GHES, local forge).")] = None,
    tenant: TenantOpt = None,
) -> None:
    """Create or replace a Terraform target."""
    c = caller(tenant)
    t = svc.set_target(
        c,
        target_id,
        repository=repository,
        base_branch=base_branch,
        path=path,
        app_installation_id=app_installation_id,
        token_ref=token_ref,
        state_refs=state,
        api_url=api_url,
        app_id=app_id,
        app_key_ref=app_key_ref,
    )
    console.print(f"target {t.id}: {t.repository}@{t.base_branch}/{t.path} (tenant {c.tenant_id})")


@targets_app.command("list")
def list_(tenant: TenantOpt = None) -> None:
    """The tenant's Terraform targets."""
    c = caller(tenant)
    table = Table("id", "repository", "base", "path", "auth", "state", title=f"Terraform targets ({c.tenant_id})")
    for t in svc.list_targets(c):
        auth = f"app installation {t.app_installation_id}" if t.app_installation_id else str(t.token_ref)
        auth += f" (app {t.app_id})" if t.app_id else ""
        table.add_row(t.id, t.repository, t.base_branch, t.path or "/", auth, ", ".join(t.state_refs) or "-")
    console.print(table)


@targets_app.command("remove")
def remove(target_id: Annotated[str, typer.Argument(help="Target id.")], tenant: TenantOpt = None) -> None:
    """Remove a Terraform target (open PRs stay open)."""
    c = caller(tenant)
    svc.remove_target(c, target_id)
    console.print(f"removed target {target_id} (tenant {c.tenant_id})")
