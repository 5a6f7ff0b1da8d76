"""Sources and the file ledger on a real PostgreSQL (started by the suite)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from cloudops.errors import ConfigError
from cloudops.sinks.postgres import migrate
from cloudops.sinks.postgres.ledger import (
    add_source,
    advance,
    claim,
    get_file,
    list_files,
    list_sources,
    record_seen,
    source_for_object,
    touch,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def tenant(postgres_db: str, tenant_id: str) -> str:
    migrate(postgres_db, tenant_id)
    return tenant_id


def _seen(dsn: str, tenant: str, trigger: str, version: str = "etag-1") -> tuple:
    return record_seen(
        dsn,
        tenant,
        source_id="aws-main",
        object_key="cur/2025-01/part-1.csv.gz",
        version=version,
        file_id=f"fid-{version}",
        url=f"s3://bills/cur/2025-01/part-1.csv.gz#{version}",
        trigger=trigger,
    )


def test_sources_add_list_and_match_longest_prefix(postgres_db: str, tenant: str) -> None:
    add_source(postgres_db, tenant, id="aws-main", provider="aws", bucket="bills", prefix="cur/")
    add_source(postgres_db, tenant, id="aws-legacy", provider="aws", bucket="bills", prefix="cur/legacy/")
    add_source(postgres_db, tenant, id="azure", provider="azure", bucket="exports", schedule_s=3600)
    assert [s.id for s in list_sources(postgres_db, tenant)] == ["aws-legacy", "aws-main", "azure"]
    assert source_for_object(postgres_db, tenant, "bills", "cur/legacy/x.csv").id == "aws-legacy"  # type: ignore[union-attr]
    assert source_for_object(postgres_db, tenant, "bills", "cur/2025/x.csv").id == "aws-main"  # type: ignore[union-attr]
    assert source_for_object(postgres_db, tenant, "bills", "other/x.csv") is None
    # Idempotent by id: updating keeps one row.
    add_source(postgres_db, tenant, id="azure", provider="azure", bucket="exports", schedule_s=7200)
    assert [s.schedule_s for s in list_sources(postgres_db, tenant) if s.id == "azure"] == [7200]


def test_same_file_from_both_triggers_is_one_row_and_parsed_once(postgres_db: str, tenant: str) -> None:
    add_source(postgres_db, tenant, id="aws-main", provider="aws", bucket="bills", prefix="cur/")
    entry, first = _seen(postgres_db, tenant, "s3-event")
    assert first
    assert entry.state == "seen"
    again, first_again = _seen(postgres_db, tenant, "schedule")
    assert not first_again
    assert again.triggers == ["s3-event", "schedule"]
    _seen(postgres_db, tenant, "s3-event")  # redelivered event
    assert get_file(postgres_db, tenant, "fid-etag-1").triggers == ["s3-event", "schedule"]  # type: ignore[union-attr]

    # Two workers race for it: exactly one wins.
    results: list[object] = []

    def worker() -> None:
        results.append(claim(postgres_db, tenant, "fid-etag-1"))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert claim(postgres_db, tenant, "fid-etag-1") is None  # still being parsed

    advance(
        postgres_db,
        tenant,
        "fid-etag-1",
        "parsed",
        rows_in=10,
        rows_rejected=1,
        source_totals={"USD": Decimal("12.3400000000")},
    )
    advance(postgres_db, tenant, "fid-etag-1", "loaded", rows_landed=9)
    done = advance(postgres_db, tenant, "fid-etag-1", "reconciled", landed_totals={"USD": Decimal("12.34")})
    assert (done.state, done.rows_in, done.rows_landed, done.rows_rejected, done.attempts) == (
        "reconciled",
        10,
        9,
        1,
        1,
    )
    assert done.source_totals == {"USD": "12.3400000000"}
    assert claim(postgres_db, tenant, "fid-etag-1") is None  # done files are never parsed again
    # A new version of the object (new ETag) is a new row and can be claimed.
    _seen(postgres_db, tenant, "s3-event", version="etag-2")
    assert claim(postgres_db, tenant, "fid-etag-2") is not None


def test_failed_files_can_be_claimed_again_and_stale_claims_expire(postgres_db: str, tenant: str) -> None:
    add_source(postgres_db, tenant, id="aws-main", provider="aws", bucket="bills", prefix="cur/")
    _seen(postgres_db, tenant, "schedule")
    assert claim(postgres_db, tenant, "fid-etag-1") is not None
    failed = advance(postgres_db, tenant, "fid-etag-1", "failed", error="ClickHouse unavailable")
    assert failed.last_error == "ClickHouse unavailable"
    second = claim(postgres_db, tenant, "fid-etag-1")
    assert second is not None
    assert second.attempts == 2
    # A worker that died mid-parse: its claim expires after the lease.
    assert claim(postgres_db, tenant, "fid-etag-1", lease_s=3600) is None
    assert claim(postgres_db, tenant, "fid-etag-1", lease_s=0) is not None
    assert [e.file_id for e in list_files(postgres_db, tenant, state="parsing")] == ["fid-etag-1"]


def test_state_machine_refuses_invalid_moves(postgres_db: str, tenant: str) -> None:
    add_source(postgres_db, tenant, id="aws-main", provider="aws", bucket="bills", prefix="cur/")
    _seen(postgres_db, tenant, "schedule")
    with pytest.raises(ValueError, match="file is seen"):
        advance(postgres_db, tenant, "fid-etag-1", "loaded")
    with pytest.raises(ValueError, match="unknown file"):
        advance(postgres_db, tenant, "nope", "parsed")
    with pytest.raises(ValueError, match="no transition"):
        advance(postgres_db, tenant, "fid-etag-1", "parsing")


def test_unmigrated_tenant_gets_a_clear_error(postgres_db: str, tenant_id: str) -> None:
    migrate(postgres_db, tenant_id, target=2)
    with pytest.raises(ConfigError, match="cloudops migrate"):
        list_sources(postgres_db, tenant_id)


def test_loader_ahead_of_parser_keeps_the_later_state(postgres_db: str, tenant: str) -> None:
    add_source(postgres_db, tenant, id="aws-main", provider="aws", bucket="bills", prefix="cur/")
    _seen(postgres_db, tenant, "s3-event")
    assert claim(postgres_db, tenant, "fid-etag-1") is not None
    # The loader counted the file in before the parser wrote `parsed`.
    advance(postgres_db, tenant, "fid-etag-1", "loaded", rows_landed=10)
    advance(postgres_db, tenant, "fid-etag-1", "reconciled", landed_totals={"USD": Decimal("1.5")})
    late = advance(postgres_db, tenant, "fid-etag-1", "parsed", rows_in=10, rows_rejected=0)
    assert (late.state, late.rows_in, late.rows_landed) == ("reconciled", 10, 10)


def test_stale_claims_are_offered_for_a_new_announcement(postgres_db: str, tenant: str) -> None:
    from cloudops.sinks.postgres.ledger import stale_claims

    add_source(postgres_db, tenant, id="aws-main", provider="aws", bucket="bills", prefix="cur/")
    event = {"tenant": tenant, "url": "s3://bills/cur/x.csv", "key": "cur/x.csv", "trigger": "schedule"}
    record_seen(
        postgres_db,
        tenant,
        source_id="aws-main",
        object_key="cur/x.csv",
        version="e1",
        file_id="fid-x",
        url="s3://bills/cur/x.csv",
        trigger="schedule",
        event=event,
    )
    assert claim(postgres_db, tenant, "fid-x") is not None
    assert stale_claims(postgres_db, tenant, older_than_s=3600) == []  # a live claim is left alone
    assert stale_claims(postgres_db, tenant, older_than_s=0) == [event]
    advance(postgres_db, tenant, "fid-x", "parsed", rows_in=1)
    assert stale_claims(postgres_db, tenant, older_than_s=0) == []  # finished files are not offered


def test_a_taken_over_claim_is_fenced_off(postgres_db: str, tenant: str) -> None:
    """A worker that stalled past its lease loses the file: its heartbeats and moves are refused."""
    add_source(postgres_db, tenant, id="aws-main", provider="aws", bucket="bills", prefix="cur/")
    _seen(postgres_db, tenant, "s3-event")
    slow = claim(postgres_db, tenant, "fid-etag-1")
    assert slow is not None
    assert touch(postgres_db, tenant, "fid-etag-1", attempt=slow.attempts)  # still the owner
    fast = claim(postgres_db, tenant, "fid-etag-1", lease_s=0)  # the lease lapsed: another worker takes it
    assert fast is not None
    assert fast.attempts == slow.attempts + 1
    assert not touch(postgres_db, tenant, "fid-etag-1", attempt=slow.attempts)
    with pytest.raises(ValueError, match="superseded by claim"):
        advance(postgres_db, tenant, "fid-etag-1", "failed", error="boom", attempt=slow.attempts)
    done = advance(postgres_db, tenant, "fid-etag-1", "parsed", rows_in=3, attempt=fast.attempts)
    assert (done.state, done.last_error) == ("parsed", None)
    assert not touch(postgres_db, tenant, "fid-etag-1", attempt=fast.attempts)  # parsed: nothing to hold


def test_unclaimed_announcements_wait_longer_than_lapsed_claims(postgres_db: str, tenant: str) -> None:
    from cloudops.sinks.postgres.ledger import stale_claims

    add_source(postgres_db, tenant, id="aws-main", provider="aws", bucket="bills", prefix="cur/")
    events = {}
    for name in ("queued", "abandoned"):
        events[name] = {"tenant": tenant, "url": f"s3://bills/cur/{name}.csv", "key": f"cur/{name}.csv"}
        record_seen(
            postgres_db,
            tenant,
            source_id="aws-main",
            object_key=f"cur/{name}.csv",
            version="e1",
            file_id=f"fid-{name}",
            url=f"s3://bills/cur/{name}.csv",
            trigger="schedule",
            event=events[name],
        )
    assert claim(postgres_db, tenant, "fid-abandoned") is not None
    # A queued announcement is not a lapsed claim: it is taken over only after its own, longer wait.
    assert stale_claims(postgres_db, tenant, older_than_s=0, unclaimed_older_than_s=3600) == [events["abandoned"]]
    both = stale_claims(postgres_db, tenant, older_than_s=0, unclaimed_older_than_s=0)
    assert sorted(e["url"] for e in both) == sorted(e["url"] for e in events.values())


def test_parse_warnings_are_recorded_and_kept(postgres_db: str, tenant: str) -> None:
    from cloudops.schemas.events import ColumnWarning

    add_source(postgres_db, tenant, id="aws-main", provider="aws", bucket="bills", prefix="cur/")
    _seen(postgres_db, tenant, "s3-event")
    assert claim(postgres_db, tenant, "fid-etag-1") is not None
    assert get_file(postgres_db, tenant, "fid-etag-1").warnings is None  # type: ignore[union-attr]
    warnings = [
        ColumnWarning(column="ListUnitPrice", source="pricing_public_on_demand_rate", reason="x", rows=2, sample="N/A"),
        ColumnWarning(column="ConsumedQuantity", source="line_item_usage_amount", reason="x", rows=1),
    ]
    parsed = advance(postgres_db, tenant, "fid-etag-1", "parsed", rows_in=15, warnings=warnings)
    assert parsed.warnings == [w.model_dump(mode="json") for w in warnings]
    # Later moves (the loader's) keep them.
    advance(postgres_db, tenant, "fid-etag-1", "loaded", rows_landed=15)
    done = advance(postgres_db, tenant, "fid-etag-1", "reconciled", landed_totals={"USD": Decimal("1")})
    assert [ColumnWarning.model_validate(w) for w in done.warnings or []] == warnings
    assert [e.warnings for e in list_files(postgres_db, tenant)] == [done.warnings]
