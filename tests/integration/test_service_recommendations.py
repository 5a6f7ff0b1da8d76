"""Recommendation use cases against real PostgreSQL: list, show, dismiss with a reason, snooze, and
revive when the snooze ends or the savings change materially; each change audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.support.tenancy import make_recommendation

from cloudops.service import Caller, Conflict, InvalidInput, NotFound
from cloudops.service import recommendations as svc
from cloudops.settings import Settings
from cloudops.sinks.postgres import migrate
from cloudops.sinks.postgres.audit_trail import read_trail
from cloudops.sinks.postgres.recommendations import RecommendationStore
from cloudops.sinks.postgres.tenants import register_tenant

pytestmark = pytest.mark.integration


def test_dismiss_snooze_and_revive(postgres_db: str, tenant_id: str, tmp_path: Path) -> None:
    migrate(postgres_db, tenant_id)
    register_tenant(postgres_db, tenant_id)
    settings = Settings(app={"work_dir": tmp_path}, postgres={"dsn": postgres_db})
    me = Caller(actor="token:abc", tenant=tenant_id, settings=settings, request_id="r-9")
    other = Caller(actor="token:def", tenant="someone_else", settings=settings)
    store = RecommendationStore(postgres_db, tenant_id)
    a, b = make_recommendation(tenant_id, "vol-a", "100.00"), make_recommendation(tenant_id, "vol-b", "10.00")
    store.upsert([a, b])

    assert [r.resource_id for r in svc.list_recommendations(me)] == ["vol-a", "vol-b"]
    assert svc.get_recommendation(me, a.fingerprint).state == "open"
    with pytest.raises(NotFound):
        svc.get_recommendation(other, a.fingerprint)  # another tenant's caller sees nothing
    with pytest.raises(InvalidInput):
        svc.dismiss_recommendation(me, a.fingerprint, reason=" ")

    dismissed = svc.dismiss_recommendation(me, a.fingerprint, reason="volume is being retired")
    assert (dismissed.state, dismissed.reason) == ("dismissed", "volume is being retired")
    snoozed = svc.snooze_recommendation(me, b.fingerprint, reason="after the freeze", duration=timedelta(days=7))
    assert snoozed.state == "dismissed"
    assert [r.fingerprint for r in svc.list_recommendations(me, state="open")] == []

    # Found again with the same savings: still dismissed; nothing to revive before the snooze ends.
    store.upsert([a, b])
    assert svc.revive_dismissed(me) == []
    # The snooze ends: b comes back. a's savings move by 30 %: a comes back too.
    later = datetime.now(UTC) + timedelta(days=8)
    store.upsert([make_recommendation(tenant_id, "vol-a", "130.00")])
    revived = svc.revive_dismissed(me, now=later)
    assert {r.fingerprint: r.reason for r in revived} == {
        a.fingerprint: "savings changed from 100.00 to 130.00",
        b.fingerprint: "snooze ended",
    }
    assert svc.revive_dismissed(me, now=later) == []  # idempotent

    svc.dismiss_recommendation(me, a.fingerprint, reason="no")
    store.upsert([make_recommendation(tenant_id, "vol-a", "140.00")])  # +7.7 %: not material
    assert svc.revive_dismissed(me, now=later) == []

    store.set_state(b.fingerprint, "superseded")
    with pytest.raises(Conflict, match="cannot move"):
        svc.dismiss_recommendation(me, b.fingerprint, reason="too late")

    trail = read_trail(postgres_db, tenant_id)
    assert [r.action for r in reversed(trail)] == [
        "recommendation.dismissed",
        "recommendation.snoozed",
        "recommendation.revived",
        "recommendation.revived",
        "recommendation.dismissed",
    ]
    assert {r.actor for r in trail} == {"token:abc"}
    assert trail[-1].request_id == "r-9"
    assert trail[-2].after["snoozed_until"] is not None
