"""Recommendation use cases of one tenant: list, show, dismiss (with a reason), snooze, revive.

A dismissed or snoozed fingerprint is not proposed again (the proposer skips closed states)
until its snooze ends or its monthly savings change materially (more than
:data:`MATERIAL_CHANGE` of the savings it was dismissed at): :func:`revive_dismissed`
reopens those, and the recommender calls it after each run.

Tenant-bound and blocking. Each state change is written by the lifecycle store (with its
tenant audit-log row) and to ``public.audit_log``, in one transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import get_args

from cloudops.schemas.recommendations import RecommendationState
from cloudops.service.context import Caller, Conflict, InvalidInput, NotFound, audit, control_plane, require_tenant
from cloudops.sinks.postgres.dismissals import record_dismissal, revivable
from cloudops.sinks.postgres.recommendations import (
    IllegalTransition,
    RecommendationNotFound,
    RecommendationStore,
    StoredRecommendation,
)

__all__ = [
    "MATERIAL_CHANGE",
    "StoredRecommendation",
    "dismiss_recommendation",
    "get_recommendation",
    "list_recommendations",
    "revive_dismissed",
    "snooze_recommendation",
]

MATERIAL_CHANGE = Decimal("0.2")
"""A dismissed recommendation whose monthly savings moved by more than this fraction comes back."""

_STATES: tuple[str, ...] = get_args(RecommendationState)


def _image(s: StoredRecommendation) -> dict[str, object]:
    return {
        "fingerprint": s.fingerprint,
        "kind": s.kind,
        "resource_id": s.resource_id,
        "state": s.state,
        "reason": s.reason,
        "monthly_savings": str(s.monthly_savings),
        "currency": s.currency,
        "pr_number": s.pr_number,
    }


def list_recommendations(
    caller: Caller, *, state: str | list[str] | None = None, kind: str | None = None, limit: int = 1000
) -> list[StoredRecommendation]:
    """The caller's recommendations (of some states, one kind), largest monthly savings first."""
    states = [state] if isinstance(state, str) else state
    for s in states or ():
        if s not in _STATES:
            raise InvalidInput(f"unknown state {s!r}: choose from {', '.join(_STATES)}")
    with control_plane(caller) as conn:
        require_tenant(conn, caller)
        return RecommendationStore(conn, caller.tenant_id).list(states, kind=kind, limit=limit)  # type: ignore[arg-type]


def get_recommendation(caller: Caller, fingerprint: str) -> StoredRecommendation:
    """One of the caller's recommendations; NotFound otherwise."""
    with control_plane(caller) as conn:
        require_tenant(conn, caller)
        found = RecommendationStore(conn, caller.tenant_id).get(fingerprint)
    if found is None:
        raise NotFound(f"no recommendation {fingerprint!r} for tenant {caller.tenant_id!r}")
    return found


def _dismiss(
    caller: Caller, fingerprint: str, reason: str, until: datetime | None, action: str
) -> StoredRecommendation:
    if not reason.strip():
        raise InvalidInput("a reason is required")
    with control_plane(caller) as conn:
        require_tenant(conn, caller, writable=True)
        store = RecommendationStore(conn, caller.tenant_id, actor=caller.actor)
        before = store.get(fingerprint)
        if before is None:
            raise NotFound(f"no recommendation {fingerprint!r} for tenant {caller.tenant_id!r}")
        try:
            after = store.set_state(fingerprint, "dismissed", reason=reason, actor=caller.actor)
        except RecommendationNotFound:
            raise NotFound(f"no recommendation {fingerprint!r} for tenant {caller.tenant_id!r}") from None
        except IllegalTransition as exc:
            raise Conflict(str(exc)) from None
        record_dismissal(conn, caller.tenant_id, fingerprint, until=until)
        audit(
            conn,
            caller,
            action,
            target=f"recommendation:{fingerprint}",
            before=_image(before),
            after={**_image(after), "snoozed_until": until.isoformat() if until else None},
        )
    return after


def dismiss_recommendation(caller: Caller, fingerprint: str, *, reason: str) -> StoredRecommendation:
    """Dismiss a recommendation (an open PR stays open: the PR bot closes it). Not proposed again
    unless its savings change materially. Raises NotFound, Conflict (merged or superseded),
    InvalidInput (no reason)."""
    return _dismiss(caller, fingerprint, reason, None, "recommendation.dismissed")


def snooze_recommendation(
    caller: Caller, fingerprint: str, *, reason: str, duration: timedelta
) -> StoredRecommendation:
    """Dismiss a recommendation until ``duration`` from now; then it may be proposed again."""
    if duration <= timedelta(0):
        raise InvalidInput("a snooze must last longer than zero")
    return _dismiss(caller, fingerprint, reason, datetime.now(UTC) + duration, "recommendation.snoozed")


def revive_dismissed(caller: Caller, *, now: datetime | None = None) -> list[StoredRecommendation]:
    """Reopen dismissed recommendations whose snooze ended or whose savings changed materially.

    Returns the reopened rows (the proposer may propose them again). Idempotent. Blocks.
    """
    moment = now or datetime.now(UTC)
    out: list[StoredRecommendation] = []
    with control_plane(caller) as conn:
        require_tenant(conn, caller)
        store = RecommendationStore(conn, caller.tenant_id, actor=caller.actor)
        for fingerprint, why in revivable(conn, caller.tenant_id, now=moment, material=MATERIAL_CHANGE):
            before = store.get(fingerprint)
            try:
                after = store.set_state(fingerprint, "open", reason=why, actor=caller.actor)
            except IllegalTransition:  # another recommendation of the same resource is active
                continue
            record_dismissal(conn, caller.tenant_id, fingerprint, until=None)
            audit(
                conn,
                caller,
                "recommendation.revived",
                target=f"recommendation:{fingerprint}",
                before=None if before is None else _image(before),
                after=_image(after),
            )
            out.append(after)
    return out
