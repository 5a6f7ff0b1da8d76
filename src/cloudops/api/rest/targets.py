"""``/v1/targets``: the tenant's Terraform targets (where its savings PRs go).

Thin over :mod:`cloudops.service.targets`: list (``recommendations:read``), create or replace
by id and remove (``recommendations:write``; audited as ``target.set`` / ``target.removed``).
Every route acts for the token's tenant only; a target of another tenant is a 404. A target
authenticates as a GitHub App installation (``app_installation_id``; with ``app_id`` and
``app_key_ref`` for the tenant's own App, without them the deployment's App) or with a token.
It holds *references* (``env:NAME`` / ``file:/path``) to the token and the App's private key,
never the secrets, so nothing here can return one. Errors are problem+json (400 invalid,
404 unknown, 409 the repository and path are another target's).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from cloudops.api.pagination import paginate
from cloudops.api.state import authorized, blocking
from cloudops.service import targets
from cloudops.service.context import Caller

__all__ = ["TargetIn", "TargetOut", "TargetPage", "router"]

router = APIRouter(tags=["targets"])
Reader = Annotated[Caller, Depends(authorized("recommendations:read"))]
Writer = Annotated[Caller, Depends(authorized("recommendations:write"))]
TargetId = Annotated[str, Path(description="Target id: [a-z0-9][a-z0-9_.-]{0,63}.")]
SECRET_REF = r"^(env|file):.+"
"""A reference checked here, before the service: a 422 names the field but never repeats the value
(which may be a pasted token or key)."""


class TargetOut(BaseModel):
    """One Terraform target."""

    model_config = ConfigDict(from_attributes=True)
    id: str
    repository: str = Field(description="owner/name")
    base_branch: str
    path: str
    app_installation_id: int | None
    token_ref: str | None = Field(description="env:NAME or file:/path (a reference, never the token)")
    state_refs: list[str]
    api_url: str | None
    enabled: bool
    app_id: int | None = Field(description="The tenant's own GitHub App; null: the deployment's App (if any).")
    app_key_ref: str | None = Field(
        description="env:NAME or file:/path of the App's PEM private key (a reference, never the key)"
    )


class TargetPage(BaseModel):
    items: list[TargetOut]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last.")


class TargetIn(BaseModel):
    """A target's whole definition (PUT replaces it). Needs ``app_installation_id`` or ``token_ref``;
    ``app_id`` and ``app_key_ref`` go together, with an ``app_installation_id``."""

    model_config = ConfigDict(extra="forbid")
    repository: str = Field(description="owner/name")
    base_branch: str = "main"
    path: str = ""
    app_installation_id: int | None = None
    token_ref: str | None = Field(
        None, pattern=SECRET_REF, description="env:NAME or file:/path (a reference, never the token)"
    )
    state_refs: list[str] = Field(default_factory=list)
    api_url: str | None = None
    enabled: bool = True
    app_id: int | None = Field(None, gt=0, description="The tenant's own GitHub App (with app_key_ref).")
    app_key_ref: str | None = Field(
        None,
        pattern=SECRET_REF,
        description="env:NAME or file:/path of the App's PEM private key (a reference, never the key)",
    )


@router.get("/v1/targets", response_model=TargetPage, summary="The tenant's Terraform targets")
async def list_targets(
    caller: Reader, cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> TargetPage:
    page = paginate(await blocking(targets.list_targets, caller), lambda t: (t.id,), cursor=cursor, limit=limit)
    return TargetPage(items=[TargetOut.model_validate(t) for t in page.items], next_cursor=page.next_cursor)


@router.get("/v1/targets/{target_id}", response_model=TargetOut, summary="One Terraform target")
async def get_target(caller: Reader, target_id: TargetId) -> TargetOut:
    return TargetOut.model_validate(await blocking(targets.get_target, caller, target_id))


@router.put("/v1/targets/{target_id}", response_model=TargetOut, summary="Create or replace a Terraform target")
async def put_target(caller: Writer, target_id: TargetId, body: TargetIn) -> TargetOut:
    done = await blocking(targets.set_target, caller, target_id, **body.model_dump())
    return TargetOut.model_validate(done)


@router.delete("/v1/targets/{target_id}", status_code=204, summary="Remove a Terraform target (open PRs stay open)")
async def delete_target(caller: Writer, target_id: TargetId) -> Response:
    await blocking(targets.remove_target, caller, target_id)
    return Response(status_code=204)
