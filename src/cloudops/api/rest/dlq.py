"""``/v1/dead-letters``: list, show and replay dead letters (``dlq:admin``). A tenant token sees and
replays its own tenant's only; a platform-admin token every one."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from cloudops.api.pagination import paginate
from cloudops.api.rest.models import DeadLetterOut, ReplayIn, ReplayOut
from cloudops.api.state import authorized
from cloudops.service import dlq
from cloudops.service.context import Caller
from cloudops.topics.dlq import DeadLetterRecord

__all__ = ["router"]

router = APIRouter(tags=["dead letters"])
Admin = Annotated[Caller, Depends(authorized("dlq:admin"))]


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    next_cursor: str | None = None


def _out(r: DeadLetterRecord, *, full: bool = False) -> DeadLetterOut:
    detail: dict[str, Any] | None = None
    if full:
        detail = r.letter.model_dump(mode="json")
        if r.letter.value_b64:
            raw = base64.b64decode(r.letter.value_b64)
            try:
                detail["value"] = json.loads(raw)
            except ValueError:
                detail["value"] = f"<{len(raw)} bytes, binary>"
    return DeadLetterOut(
        position=r.position,
        topic=r.position.rsplit(":", 2)[0],
        source_topic=r.letter.source_topic,
        failed_at=r.letter.failed_at,
        error_kind=r.letter.error_kind,
        attempts=r.letter.attempts,
        tenant=r.letter.tenant,
        file_url=r.letter.file_url,
        reason=r.letter.reason,
        replayable=r.replayable,
        detail=detail,
    )


@router.get("/v1/dead-letters", response_model=DeadLetterPage, summary="Dead letters, oldest first")
async def list_dead_letters(
    caller: Admin,
    topic: str | None = None,
    kind: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeadLetterPage:
    rows = await dlq.list_dead_letters(caller, topic=topic, kind=kind)
    page = paginate(rows, lambda r: (r.letter.failed_at, r.position), cursor=cursor, limit=limit)
    return DeadLetterPage(items=[_out(r) for r in page.items], next_cursor=page.next_cursor)


@router.get("/v1/dead-letters/{position}", response_model=DeadLetterOut, summary="One dead letter in full")
async def show_dead_letter(caller: Admin, position: str) -> DeadLetterOut:
    return _out(await dlq.find_dead_letter(caller, position), full=True)


@router.post("/v1/dead-letters/replay", response_model=ReplayOut, summary="Replay dead letters byte for byte")
async def replay_dead_letters(caller: Admin, body: ReplayIn) -> ReplayOut:
    chosen = [await dlq.find_dead_letter(caller, p) for p in body.positions]
    skipped = [r.position for r in chosen if not r.replayable]
    if body.dry_run:
        return ReplayOut(replayed=[r.position for r in chosen if r.replayable], skipped=skipped, dry_run=True)
    sent = await dlq.replay_dead_letters(caller, chosen)
    return ReplayOut(replayed=[r.position for r in sent], skipped=skipped, dry_run=False)
