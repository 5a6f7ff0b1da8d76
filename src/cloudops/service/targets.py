"""Terraform-target use cases of one tenant (routing out): where its savings PRs go.

A target names the tenant's Terraform repository (``owner/name``), base branch and path, the
GitHub auth, the Terraform state location(s) (``s3://bucket/key`` or a path) and, for GitHub
Enterprise or a local forge, the API root. The auth is a GitHub App installation (its id, plus
the App's id and a reference to its private key - or neither, for the deployment's App
``CLOUDOPS_GITHUB__APP_ID``) or a token reference; references are ``env:NAME`` / ``file:/path``,
never the secret. Tenant-bound, blocking, audited (``target.set`` / ``target.removed``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import psycopg
from pydantic import SecretStr

from cloudops.errors import ConfigError
from cloudops.service.context import Caller, Conflict, InvalidInput, NotFound, audit, control_plane, require_tenant
from cloudops.sinks.github.target import AppInstallation
from cloudops.sinks.postgres import targets as store
from cloudops.sinks.postgres.targets import TerraformTarget
from cloudops.sources.credentials import read_secret_ref

__all__ = [
    "GitHubRoute",
    "TerraformTarget",
    "get_target",
    "list_targets",
    "remove_target",
    "resolve_route",
    "routes_for",
    "set_target",
]

_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def set_target(
    caller: Caller,
    target_id: str,
    *,
    repository: str,
    base_branch: str = "main",
    path: str = "",
    app_installation_id: int | None = None,
    token_ref: str | None = None,
    state_refs: list[str] | None = None,
    api_url: str | None = None,
    enabled: bool = True,
    app_id: int | None = None,
    app_key_ref: str | None = None,
) -> TerraformTarget:
    """Create or replace the caller's target ``target_id``. Needs an App installation id (with the
    App's id and private-key reference, or neither for the deployment's App) or a token reference.
    Raises InvalidInput, Conflict (the repository and path are another target's of this tenant; the
    tenant is being deleted), NotFound (no tenant)."""
    if not _ID.fullmatch(target_id):
        raise InvalidInput(f"invalid target id {target_id!r}")
    if not _REPO.fullmatch(repository):
        raise InvalidInput(f"repository {repository!r} must be owner/name")
    if app_installation_id is None and token_ref is None:
        raise InvalidInput("a target needs --app-installation-id or --token-ref (env:NAME or file:/path)")
    if token_ref is not None and not token_ref.startswith(("env:", "file:")):
        raise InvalidInput("token_ref must be env:NAME or file:/path (a reference, never a token: not repeated here)")
    if (app_id is None) != (app_key_ref is None):
        raise InvalidInput("a GitHub App needs both --app-id and --app-key-ref (env:NAME or file:/path)")
    if app_id is not None and app_installation_id is None:
        raise InvalidInput(f"GitHub App {app_id} needs --app-installation-id (the installation on {repository})")
    if app_key_ref is not None and not app_key_ref.startswith(("env:", "file:")):
        raise InvalidInput("app_key_ref must be env:NAME or file:/path (a reference, never a key: not repeated here)")
    target = TerraformTarget(
        target_id,
        repository,
        base_branch,
        path.strip("/"),
        app_installation_id,
        token_ref,
        list(state_refs or []),
        api_url,
        enabled,
        app_id,
        app_key_ref,
    )
    with control_plane(caller) as conn:
        require_tenant(conn, caller, writable=True)
        try:
            before, after = store.upsert_target(conn, caller.tenant_id, target)
        except psycopg.errors.UniqueViolation:
            raise Conflict(f"another target of {caller.tenant_id!r} already points at {repository} {path!r}") from None
        audit(
            conn,
            caller,
            "target.set",
            target=f"target:{target_id}",
            before=None if before is None else before.as_dict(),
            after=after.as_dict(),
        )
    return after


def list_targets(caller: Caller) -> list[TerraformTarget]:
    """The caller's targets, by id."""
    with control_plane(caller) as conn:
        require_tenant(conn, caller)
        return store.list_targets(conn, caller.tenant_id)


def get_target(caller: Caller, target_id: str) -> TerraformTarget:
    """One of the caller's targets; NotFound otherwise."""
    with control_plane(caller) as conn:
        require_tenant(conn, caller)
        found = store.get_target(conn, caller.tenant_id, target_id)
    if found is None:
        raise NotFound(f"no Terraform target {target_id!r} for tenant {caller.tenant_id!r}")
    return found


def remove_target(caller: Caller, target_id: str) -> TerraformTarget:
    """Remove one of the caller's targets (open PRs stay open). Raises NotFound."""
    with control_plane(caller) as conn:
        require_tenant(conn, caller, writable=True)
        before = store.delete_target(conn, caller.tenant_id, target_id)
        if before is None:
            raise NotFound(f"no Terraform target {target_id!r} for tenant {caller.tenant_id!r}")
        audit(conn, caller, "target.removed", target=f"target:{target_id}", before=before.as_dict())
    return before


@dataclass(frozen=True, slots=True)
class GitHubRoute:
    """Where and as whom to open one tenant's PRs: the target plus its resolved auth.

    ``app``: the App installation the PRs are opened as (githubkit's app-installation auth: the
    App's JWT is traded for an installation token), with the private key read from the target's
    ``app_key_ref`` or the deployment's App. Otherwise ``token``, the secret behind ``token_ref``.
    Neither appears in ``repr``. ``api_url``: the target's, else the deployment's
    (``CLOUDOPS_GITHUB__BASE_URL``).
    """

    tenant: str
    target: TerraformTarget
    api_url: str
    token: SecretStr | None = field(default=None, repr=False)
    installation_id: int | None = None
    app: AppInstallation | None = field(default=None, repr=False)

    def auth(self) -> str | AppInstallation:
        """The credentials for the PR sink: the App installation, else the token (revealed)."""
        if self.app is not None:
            return self.app
        if self.token is None:  # resolve_route never builds such a route
            raise ConfigError(f"Terraform target {self.target.id!r} of {self.tenant!r} has no GitHub auth")
        return self.token.get_secret_value()


def routes_for(caller: Caller) -> list[GitHubRoute]:
    """The caller's enabled targets with their auth resolved (the proposer's routing out). Raises
    ConfigError for a token reference that cannot be read, NotFound (no tenant). Blocks."""
    return [resolve_route(caller, t) for t in list_targets(caller) if t.enabled]


def resolve_route(caller: Caller, target: TerraformTarget) -> GitHubRoute:
    """``target`` (one of the caller's) with its auth resolved: the App's private key behind
    ``app_key_ref`` (or the deployment's ``github.app_private_key_ref``) and the token behind
    ``token_ref`` are read now (a rotated secret is picked up by the next call). An App
    installation wins over a token. Raises ConfigError for a reference that cannot be read or an
    installation without an App. Blocks (reads a file or the environment)."""
    token = SecretStr(read_secret_ref(target.token_ref)) if target.token_ref else None
    api = target.api_url or caller.settings.github.base_url
    app = None
    if target.app_installation_id is not None:
        gh = caller.settings.github
        app_id, key_ref = (target.app_id, target.app_key_ref) if target.app_id else (gh.app_id, gh.app_private_key_ref)
        if app_id is None or key_ref is None:
            raise ConfigError(
                f"Terraform target {target.id!r} of {caller.tenant_id!r} names GitHub App installation "
                f"{target.app_installation_id} but no App: set its app id and key reference, or "
                "CLOUDOPS_GITHUB__APP_ID and CLOUDOPS_GITHUB__APP_PRIVATE_KEY_REF"
            )
        app = AppInstallation(app_id, target.app_installation_id, read_secret_ref(key_ref))
    return GitHubRoute(caller.tenant_id, target, api, token, target.app_installation_id, app)
