"""``/v1/tenant`` (the caller's own) and ``/v1/tenants`` (platform-admin tokens with ``tenants:admin``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from cloudops.api.pagination import paginate
from cloudops.api.rest.models import TenantIn, TenantOut, TenantPage
from cloudops.api.state import authorized, blocking
from cloudops.service import tenants
from cloudops.service.context import Caller

__all__ = ["router"]

router = APIRouter(tags=["tenants"])
Admin = Annotated[Caller, Depends(authorized("tenants:admin"))]


@router.get("/v1/tenant", response_model=TenantOut, summary="The tenant of the calling token")
async def own_tenant(caller: Annotated[Caller, Depends(authorized(None))]) -> TenantOut:
    caller.tenant_id  # noqa: B018 - a platform token has no tenant: 403
    return TenantOut.model_validate(await blocking(tenants.get_tenant, caller))


@router.get("/v1/tenants", response_model=TenantPage, summary="Every tenant (platform admin)")
async def list_tenants(
    caller: Admin,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> TenantPage:
    caller.require_platform()
    page = paginate(await blocking(tenants.list_tenants, caller), lambda t: (t.id,), cursor=cursor, limit=limit)
    return TenantPage(items=[TenantOut.model_validate(t) for t in page.items], next_cursor=page.next_cursor)


@router.post("/v1/tenants", response_model=TenantOut, status_code=201, summary="Create (provision) a tenant")
async def create_tenant(caller: Admin, body: TenantIn) -> TenantOut:
    done = await blocking(tenants.create_tenant, caller, body.id, display_name=body.display_name)
    return TenantOut.model_validate(done.tenant)


@router.get("/v1/tenants/{tenant_id}", response_model=TenantOut, summary="One tenant (platform admin)")
async def get_tenant(caller: Admin, tenant_id: str) -> TenantOut:
    caller.require_platform()
    return TenantOut.model_validate(await blocking(tenants.get_tenant, caller, tenant_id))


@router.post("/v1/tenants/{tenant_id}/suspend", response_model=TenantOut, summary="Stop ingest and PRs")
async def suspend_tenant(caller: Admin, tenant_id: str, reason: str | None = None) -> TenantOut:
    return TenantOut.model_validate(await blocking(tenants.suspend_tenant, caller, tenant_id, reason=reason))


@router.post("/v1/tenants/{tenant_id}/resume", response_model=TenantOut, summary="Resume (or cancel a deletion)")
async def resume_tenant(caller: Admin, tenant_id: str) -> TenantOut:
    return TenantOut.model_validate(await blocking(tenants.resume_tenant, caller, tenant_id))


@router.delete("/v1/tenants/{tenant_id}", response_model=TenantOut, summary="Mark for deletion (purged later)")
async def delete_tenant(caller: Admin, tenant_id: str) -> TenantOut:
    return TenantOut.model_validate(await blocking(tenants.delete_tenant, caller, tenant_id))
