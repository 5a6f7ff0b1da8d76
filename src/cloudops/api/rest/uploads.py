"""``POST /v1/sources/{source_id}/uploads``: upload one billing file into one of the tenant's sources.

Thin over :mod:`cloudops.service.uploads` (scope ``sources:write``; audited ``file.uploaded``).
The request body is the file itself (any content type; the format is detected from its bytes
by the parse worker, never from the name), the object name is the ``name`` query parameter.
The body is spooled to a temporary file under ``app.work_dir`` (never held in memory) and
refused with 413 beyond the API's upload limit (``api.upload_max_bytes``, or
``create_api(upload_max_bytes=...)``).
The answer names the file id the live events (``/graphql/live``) and ``/v1/files`` use.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import IO, Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from cloudops.api.state import authorized, state_of
from cloudops.service import uploads
from cloudops.service.context import Caller, ServiceError

__all__ = ["UploadOut", "router"]

router = APIRouter(tags=["ingest"])
Writer = Annotated[Caller, Depends(authorized("sources:write"))]


class TooLarge(ServiceError):
    """The upload is larger than the API accepts."""

    status = 413


class UploadOut(BaseModel):
    """An uploaded billing file: where it is stored, its identity, and whether it was announced."""

    file_id: str = Field(description="The file's id in the ledger, the live events and /v1/files.")
    source_id: str
    url: str = Field(description="s3://bucket/key of the stored object.")
    key: str
    etag: str | None
    version_id: str | None
    size: int
    sha256: str
    announced: bool = Field(description="Announced on billing-files by the upload itself.")
    detail: str = Field(description="What happens next, one line.")


def _write(fh: IO[bytes], data: bytes) -> None:
    fh.write(data)


def _spool_file(folder: Path) -> IO[bytes]:
    """A new temporary file under ``folder`` (deleted when closed)."""
    folder.mkdir(parents=True, exist_ok=True)
    return tempfile.NamedTemporaryFile(mode="w+b", dir=folder, prefix="upload-", suffix=".part")


@router.post(
    "/v1/sources/{source_id}/uploads",
    response_model=UploadOut,
    status_code=201,
    summary="Upload a billing file into a source (the pipeline ingests it)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The billing file's bytes (CSV, gzip, zip, Parquet, ORC, JSON lines).",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload(
    caller: Writer,
    request: Request,
    source_id: str,
    name: Annotated[str, Query(description="Object name under the source's prefix (letters, digits, '.', '_', '-').")],
) -> UploadOut:
    uploads.check_name(name)
    state = state_of(request)
    limit = int(state.extras.get("upload_max_bytes", state.settings.api.upload_max_bytes))
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the file is larger than this API accepts ({limit} bytes)")
    fh = await asyncio.to_thread(_spool_file, Path(state.settings.app.work_dir) / "uploads")
    try:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"the file is larger than this API accepts ({limit} bytes)")
            await asyncio.to_thread(_write, fh, chunk)
        await asyncio.to_thread(fh.flush)
        done = await uploads.upload_file(caller, source_id, name, Path(fh.name))
    finally:
        await asyncio.to_thread(fh.close)
    ev = done.event
    return UploadOut(
        file_id=done.file_id,
        source_id=done.source_id,
        url=ev.url,
        key=ev.key,
        etag=ev.etag,
        version_id=ev.version_id,
        size=ev.size or 0,
        sha256=done.sha256,
        announced=done.announced,
        detail=done.detail,
    )
