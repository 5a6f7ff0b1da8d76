"""``/v1/tokens``: tokens made and revoked through the API (``tokens:admin``).

A tenant token manages its own tenant's tokens within its own scopes; a platform-admin token
manages any (``tenant`` in the body picks the tenant of a new token).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from cloudops.api.pagination import paginate
from cloudops.api.rest.models import TokenIn, TokenIssuedOut, TokenOut, TokenPage
from cloudops.api.state import authorized, blocking, state_of
from cloudops.service import tokens
from cloudops.service.context import Caller, InvalidInput

__all__ = ["router"]

router = APIRouter(tags=["tokens"])
Admin = Annotated[Caller, Depends(authorized("tokens:admin"))]


@router.get("/v1/tokens", response_model=TokenPage, summary="Tokens of the caller's tenant (no secrets)")
async def list_tokens(
    request: Request,
    caller: Admin,
    tenant: Annotated[str | None, Query(description="Platform admins: this tenant's tokens.")] = None,
    revoked: bool = False,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> TokenPage:
    ident = request.state.identity
    target = caller.tenant if tenant is None else tenant
    rows = await blocking(tokens.list_tokens, caller.dsn, tenant=target, include_revoked=revoked, by=ident)
    page = paginate(rows, lambda t: (t.created_at, t.id), cursor=cursor, limit=limit)
    return TokenPage(items=[TokenOut.model_validate(t) for t in page.items], next_cursor=page.next_cursor)


@router.post("/v1/tokens", response_model=TokenIssuedOut, status_code=201, summary="Create a token (shown once)")
async def create_token(request: Request, caller: Admin, body: TokenIn) -> TokenIssuedOut:
    ident = request.state.identity
    tenant = caller.tenant if body.tenant is None and not ident.platform_admin else body.tenant
    try:
        expires_at = tokens.parse_expiry(body.expires)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    issued = await blocking(
        tokens.create_token,
        caller.dsn,
        tenant=tenant,
        scopes=body.scopes,
        name=body.name,
        expires_at=expires_at,
        actor=caller.actor,
        request_id=caller.request_id,
        by=ident,
        rate_limit_per_min=body.rate_limit_per_min,
    )
    return TokenIssuedOut(token=TokenOut.model_validate(issued.token), secret=issued.secret)


@router.delete("/v1/tokens/{token_id}", response_model=TokenOut, summary="Revoke a token at once")
async def revoke_token(request: Request, caller: Admin, token_id: str) -> TokenOut:
    done = await blocking(
        tokens.revoke_token,
        caller.dsn,
        token_id,
        actor=caller.actor,
        request_id=caller.request_id,
        by=request.state.identity,
    )
    state_of(request).gate.forget(token_id)
    return TokenOut.model_validate(done)
