"""``/v1/recommendations``: list, show, dismiss and snooze the tenant's savings recommendations."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from cloudops.api.pagination import paginate
from cloudops.api.rest.models import DismissIn, RecommendationOut, RecommendationPage, SnoozeIn
from cloudops.api.state import authorized, blocking
from cloudops.service import recommendations as recs
from cloudops.service.context import Caller
from cloudops.sinks.postgres.recommendations import StoredRecommendation

__all__ = ["recommendation_out", "router"]

router = APIRouter(tags=["recommendations"])
Reader = Annotated[Caller, Depends(authorized("recommendations:read"))]
Writer = Annotated[Caller, Depends(authorized("recommendations:write"))]


def recommendation_out(s: StoredRecommendation) -> RecommendationOut:
    """The wire form of a stored recommendation."""
    return RecommendationOut(
        fingerprint=s.fingerprint,
        kind=s.kind,
        resource_id=s.resource_id,
        provider=s.provider,
        resource_type=s.resource_type,
        state=s.state,
        monthly_savings=s.monthly_savings,
        currency=s.currency,
        period=s.period,
        first_seen=s.first_seen,
        last_seen=s.last_seen,
        times_seen=s.times_seen,
        pr_number=s.pr_number,
        pr_url=s.pr_url,
        branch=s.branch,
        state_changed_at=s.state_changed_at,
        reason=s.reason,
        superseded_by=s.superseded_by,
        detail=s.recommendation.model_dump(mode="json"),
    )


@router.get("/v1/recommendations", response_model=RecommendationPage, summary="Largest monthly savings first")
async def list_recommendations(
    caller: Reader,
    state: Annotated[list[str] | None, Query(description="Only these states (repeat).")] = None,
    kind: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RecommendationPage:
    rows = await blocking(recs.list_recommendations, caller, state=state, kind=kind, limit=10_000)
    page = paginate(rows, lambda r: (r.monthly_savings, r.fingerprint), cursor=cursor, limit=limit, descending=True)
    return RecommendationPage(items=[recommendation_out(r) for r in page.items], next_cursor=page.next_cursor)


@router.get("/v1/recommendations/{fingerprint}", response_model=RecommendationOut, summary="One recommendation")
async def get_recommendation(caller: Reader, fingerprint: str) -> RecommendationOut:
    return recommendation_out(await blocking(recs.get_recommendation, caller, fingerprint))


@router.post("/v1/recommendations/{fingerprint}/dismiss", response_model=RecommendationOut, summary="Dismiss")
async def dismiss(caller: Writer, fingerprint: str, body: DismissIn) -> RecommendationOut:
    return recommendation_out(await blocking(recs.dismiss_recommendation, caller, fingerprint, reason=body.reason))


@router.post("/v1/recommendations/{fingerprint}/snooze", response_model=RecommendationOut, summary="Snooze")
async def snooze(caller: Writer, fingerprint: str, body: SnoozeIn) -> RecommendationOut:
    done = await blocking(
        recs.snooze_recommendation, caller, fingerprint, reason=body.reason, duration=timedelta(days=body.days)
    )
    return recommendation_out(done)
