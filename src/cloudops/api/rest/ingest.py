"""``/v1/sources``, ``/v1/files`` and ``/v1/periods``: the tenant's billing sources, file ledger and
billing-period versions. Every route acts for the token's tenant only."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from cloudops.api.pagination import paginate
from cloudops.api.rest.models import (
    FileOut,
    FilePage,
    PeriodOut,
    PeriodPage,
    SourceIn,
    SourceOut,
    SourcePage,
    SourcePatch,
)
from cloudops.api.state import authorized, blocking
from cloudops.service import files, periods, sources
from cloudops.service.context import Caller
from cloudops.sinks.postgres.ledger import LedgerEntry

__all__ = ["router"]

router = APIRouter(tags=["ingest"])
Reader = Annotated[Caller, Depends(authorized("sources:read"))]
Writer = Annotated[Caller, Depends(authorized("sources:write"))]
FileReader = Annotated[Caller, Depends(authorized("files:read"))]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]


@router.get("/v1/sources", response_model=SourcePage, summary="The tenant's billing sources")
async def list_sources(caller: Reader, cursor: str | None = None, limit: Limit = 100) -> SourcePage:
    page = paginate(await blocking(sources.list_sources, caller), lambda s: (s.id,), cursor=cursor, limit=limit)
    return SourcePage(items=[SourceOut.model_validate(s) for s in page.items], next_cursor=page.next_cursor)


@router.post("/v1/sources", response_model=SourceOut, summary="Create or replace a source (idempotent by id)")
async def put_source(caller: Writer, body: SourceIn) -> SourceOut:
    fields = body.model_dump(exclude={"id"})
    return SourceOut.model_validate(await blocking(sources.add_source, caller, body.id, **fields))


@router.get("/v1/sources/{source_id}", response_model=SourceOut, summary="One source")
async def get_source(caller: Reader, source_id: str) -> SourceOut:
    return SourceOut.model_validate(await blocking(sources.get_source, caller, source_id))


@router.patch("/v1/sources/{source_id}", response_model=SourceOut, summary="Change some fields of a source")
async def patch_source(caller: Writer, source_id: str, body: SourcePatch) -> SourceOut:
    changes = body.model_dump(exclude_unset=True)
    return SourceOut.model_validate(await blocking(sources.update_source, caller, source_id, **changes))


@router.delete("/v1/sources/{source_id}", status_code=204, summary="Remove a source with its ledger")
async def delete_source(caller: Writer, source_id: str) -> Response:
    await blocking(sources.remove_source, caller, source_id)
    return Response(status_code=204)


def _file_key(f: LedgerEntry) -> tuple[object, ...]:
    return (f.updated_at, f.file_id)


@router.get("/v1/files", response_model=FilePage, summary="The file ledger, most recently updated first")
async def list_files(
    caller: FileReader,
    state: str | None = None,
    source: str | None = None,
    cursor: str | None = None,
    limit: Limit = 100,
) -> FilePage:
    rows = await blocking(files.list_files, caller, state=state, source_id=source, limit=10_000)
    page = paginate(rows, _file_key, cursor=cursor, limit=limit, descending=True)
    return FilePage(items=[FileOut.model_validate(f) for f in page.items], next_cursor=page.next_cursor)


@router.get("/v1/sources/{source_id}/files", response_model=FilePage, summary="The files of one source")
async def list_source_files(
    caller: FileReader, source_id: str, state: str | None = None, cursor: str | None = None, limit: Limit = 100
) -> FilePage:
    await blocking(sources.get_source, caller, source_id)  # 404 for a source that is not the tenant's
    return await list_files(caller, state=state, source=source_id, cursor=cursor, limit=limit)


@router.get("/v1/files/{file_id}", response_model=FileOut, summary="One file: state, counts, totals, last error")
async def get_file(caller: FileReader, file_id: str) -> FileOut:
    return FileOut.model_validate(await blocking(files.get_file, caller, file_id))


@router.get("/v1/periods", response_model=PeriodPage, summary="Billing periods and every version of each")
async def list_periods(
    caller: Annotated[Caller, Depends(authorized("periods:read"))],
    source: str | None = None,
    period: date | None = None,
    cursor: str | None = None,
    limit: Limit = 100,
) -> PeriodPage:
    rows = await blocking(periods.list_periods, caller, source_id=source, period=period)
    page = paginate(rows, lambda v: (v.source_id, v.period, v.version), cursor=cursor, limit=limit)
    return PeriodPage(items=[PeriodOut.model_validate(v) for v in page.items], next_cursor=page.next_cursor)
