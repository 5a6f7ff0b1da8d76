"""The recommendation lifecycle on a real PostgreSQL (started by the suite)."""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from cloudops.errors import ConfigError
from cloudops.schemas.recommendations import AttributeChange, Evidence, Recommendation
from cloudops.sinks.postgres import migrate, read_audit
from cloudops.sinks.postgres.recommendations import (
    IllegalTransition,
    RecommendationNotFound,
    RecommendationStore,
)

pytestmark = pytest.mark.integration

VOL = "vol-0a1b2c3d4e5f60001"
FOUND = datetime(2023, 12, 2, tzinfo=UTC)


@pytest.fixture
def tenant(postgres_db: str, tenant_id: str) -> str:
    migrate(postgres_db, tenant_id)
    return tenant_id


@pytest.fixture
def store(postgres_db: str, tenant: str) -> RecommendationStore:
    return RecommendationStore(postgres_db, tenant)


def _rec(tenant: str, *, target: str = "gp3", savings: str = "10.00", resource: str = VOL, period: str = "2023-11"):
    return Recommendation(
        tenant=tenant,
        kind="aws-ebs-gp2-to-gp3",
        provider="aws",
        resource_id=resource,
        resource_type="aws_ebs_volume",
        title=f"Move EBS volume {resource} from gp2 to {target}",
        current={"type": "gp2"},
        proposed={"type": target},
        changes=(AttributeChange(attribute="type", current="gp2", proposed=target),),
        monthly_savings=Decimal(savings),
        currency="USD",
        confidence="high",
        risk="none",
        evidence=Evidence(query='{"q":1}', rows=({"resource_id": resource, "effective_cost": "50"},)),
        period=period,
        found_at=FOUND,
    )


def _count(dsn: str, tenant: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(f"SELECT count(*) FROM tenant_{tenant}.recommendations").fetchone()  # type: ignore[call-overload]
    assert row is not None
    return int(row[0])


def test_found_again_updates_the_row_never_duplicates(
    postgres_db: str, tenant: str, store: RecommendationStore
) -> None:
    rec = _rec(tenant)
    first = store.upsert([rec])
    assert first.inserted == [rec.fingerprint]
    stored = store.get(rec.fingerprint)
    assert stored is not None
    assert (stored.state, stored.times_seen, stored.monthly_savings, stored.period) == (
        "open",
        1,
        Decimal("10.00"),
        "2023-11",
    )
    assert stored.recommendation == rec  # the payload is the Recommendation JSON, round-tripped

    again = _rec(tenant, savings="12.50", period="2023-12")
    assert again.fingerprint == rec.fingerprint
    second = store.upsert([again])
    assert (second.inserted, second.updated, second.superseded) == ([], [rec.fingerprint], [])
    updated = store.get(rec.fingerprint)
    assert updated is not None
    assert (updated.times_seen, updated.monthly_savings, updated.period) == (2, Decimal("12.50"), "2023-12")
    assert updated.first_seen == stored.first_seen
    assert updated.last_seen >= stored.last_seen
    assert updated.recommendation.monthly_savings == Decimal("12.50")
    assert _count(postgres_db, tenant) == 1
    # A state change appended an audit entry; a sighting did not.
    actions = [e.action for e in read_audit(postgres_db, tenant)]
    assert actions == ["recommendation.opened"]


def test_new_target_for_the_same_resource_supersedes_the_open_pr(
    postgres_db: str, tenant: str, store: RecommendationStore
) -> None:
    old = _rec(tenant)
    store.upsert([old])
    store.set_state(
        old.fingerprint, "pr_open", pr_number=42, pr_url="https://github.com/o/r/pull/42", branch="cloudops/x"
    )
    new = _rec(tenant, target="io2", savings="3.00")
    result = store.upsert([new])
    assert result.inserted == [new.fingerprint]
    assert [s.fingerprint for s in result.superseded] == [old.fingerprint]
    gone = result.superseded[0]
    assert (gone.state, gone.pr_number, gone.branch, gone.superseded_by) == (
        "superseded",
        42,
        "cloudops/x",
        new.fingerprint,
    )
    assert [s.fingerprint for s in store.list(state="open")] == [new.fingerprint]
    assert store.list(state="pr_open") == []
    # Another resource is independent.
    other = _rec(tenant, resource="vol-0a1b2c3d4e5f60003", savings="2.00")
    assert store.upsert([other]).superseded == []
    assert [s.fingerprint for s in store.list(state=["open", "superseded"])] == [
        old.fingerprint,  # 10.00
        new.fingerprint,  # 3.00
        other.fingerprint,  # 2.00
    ]
    entries = read_audit(postgres_db, tenant)
    superseded = [e for e in entries if e.detail.get("to") == "superseded"]
    assert superseded[0].detail["from"] == "pr_open"
    assert superseded[0].detail["pr_number"] == 42


def test_transitions_are_checked(store: RecommendationStore, tenant: str) -> None:
    rec = _rec(tenant)
    store.upsert([rec])
    fp = rec.fingerprint
    with pytest.raises(IllegalTransition, match="from open to merged"):
        store.set_state(fp, "merged")
    with pytest.raises(ValueError, match="pr_number, pr_url or branch"):
        store.set_state(fp, "pr_open")
    opened = store.set_state(fp, "pr_open", pr_number=7)
    assert (opened.state, opened.pr_number) == ("pr_open", 7)
    # Same state again: idempotent, fills what is given.
    again = store.set_state(fp, "pr_open", pr_url="https://github.com/o/r/pull/7")
    assert (again.pr_number, again.pr_url, again.state_changed_at) == (
        7,
        "https://github.com/o/r/pull/7",
        opened.state_changed_at,
    )
    merged = store.set_state(fp, "merged", reason="PR #7 merged")
    assert (merged.state, merged.reason) == ("merged", "PR #7 merged")
    with pytest.raises(IllegalTransition, match="final state"):
        store.set_state(fp, "open")
    with pytest.raises(RecommendationNotFound):
        store.set_state("nope", "dismissed")
    with pytest.raises(ValueError, match="unknown state"):
        store.set_state(fp, "closed")  # type: ignore[arg-type]
    # A merged recommendation found again (the bill lags the change) stays merged.
    assert store.upsert([rec]).updated == [fp]
    stored = store.get(fp)
    assert stored is not None
    assert (stored.state, stored.times_seen) == ("merged", 2)


def test_dismissed_stays_dismissed_and_can_be_reopened(store: RecommendationStore, tenant: str) -> None:
    rec = _rec(tenant)
    store.upsert([rec])
    store.set_state(rec.fingerprint, "dismissed", reason="volume is scratch space", actor="alice")
    store.upsert([rec])
    assert store.get(rec.fingerprint).state == "dismissed"  # type: ignore[union-attr]
    # While dismissed, another target may open; reopening the dismissed one then collides.
    other = _rec(tenant, target="st1")
    store.upsert([other])
    with pytest.raises(IllegalTransition, match="another recommendation"):
        store.set_state(rec.fingerprint, "open")
    store.set_state(other.fingerprint, "dismissed")
    reopened = store.set_state(rec.fingerprint, "open")
    assert (reopened.state, reopened.pr_number) == ("open", None)


def test_expire_unseen_and_reopen_when_found_again(postgres_db: str, tenant: str, store: RecommendationStore) -> None:
    stale, fresh = _rec(tenant), _rec(tenant, resource="vol-0a1b2c3d4e5f60003")
    store.upsert([stale, fresh])
    store.set_state(stale.fingerprint, "pr_open", pr_number=9)
    with psycopg.connect(postgres_db, autocommit=True) as conn:
        conn.execute(
            f"UPDATE tenant_{tenant}.recommendations SET last_seen = now() - interval '40 days' "  # type: ignore[call-overload]
            "WHERE fingerprint = %s",
            [stale.fingerprint],
        )
    expired = store.expire_unseen(timedelta(days=30))
    assert [(e.fingerprint, e.state, e.pr_number) for e in expired] == [(stale.fingerprint, "expired", 9)]
    assert expired[0].reason is not None
    assert expired[0].reason.startswith("not seen since ")
    assert store.expire_unseen(timedelta(days=30)) == []  # idempotent
    assert [s.fingerprint for s in store.list(state="open")] == [fresh.fingerprint]
    # Found again: reopened, PR fields cleared (its PR was closed when it expired).
    result = store.upsert([stale])
    assert result.reopened == [stale.fingerprint]
    back = store.get(stale.fingerprint)
    assert back is not None
    assert (back.state, back.pr_number, back.times_seen) == ("open", None, 2)
    # A cutoff in the future expires everything active.
    assert {e.fingerprint for e in store.expire_unseen(datetime.now(UTC) + timedelta(minutes=1))} == {
        stale.fingerprint,
        fresh.fingerprint,
    }
    audit_to = [e.detail["to"] for e in read_audit(postgres_db, tenant, limit=20)]
    assert audit_to.count("expired") == 3


def test_concurrent_upserts_of_the_same_finding_make_one_row(postgres_db: str, tenant: str) -> None:
    recs = [_rec(tenant), _rec(tenant, target="io2")]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            RecommendationStore(postgres_db, tenant).upsert([recs[i % 2]])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = RecommendationStore(postgres_db, tenant)
    assert _count(postgres_db, tenant) == 2
    assert len(store.list(state=["open", "pr_open"])) == 1  # never two active for one (kind, resource)
    assert sum(s.times_seen for s in store.list()) == 6


def test_borrowed_connection_joins_the_callers_transaction(postgres_db: str, tenant: str) -> None:
    rec = _rec(tenant)
    with psycopg.connect(postgres_db) as conn:  # autocommit off, as psycopg opens it
        store = RecommendationStore(conn, tenant)
        with contextlib.suppress(RuntimeError), conn.transaction():
            store.upsert([rec])
            raise RuntimeError("the caller fails after the call")
        assert store.get(rec.fingerprint) is None  # rolled back with the caller's transaction
        assert read_audit(conn, tenant) == []
        store.upsert([rec])  # no transaction open: commits before returning
    assert RecommendationStore(postgres_db, tenant).get(rec.fingerprint) is not None


def test_wrong_tenant_and_missing_table(postgres_db: str, tenant: str) -> None:
    with pytest.raises(ValueError, match="for tenant"):
        RecommendationStore(postgres_db, tenant).upsert([_rec("someoneelse")])
    migrate(postgres_db, "bare", target=4)
    with pytest.raises(ConfigError, match="migrate"):
        RecommendationStore(postgres_db, "bare").list()
    with pytest.raises(ValueError, match="invalid tenant id"):
        RecommendationStore(postgres_db, "Bad;")
