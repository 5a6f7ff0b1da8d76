"""The recommenders' input fetched from the real engine (chdb): the shared bill goes in, its usage rows come back."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from tests.support.recommend_data import (
    ACCOUNT,
    BUCKET,
    EXPECTED_SAVINGS,
    LINE_ITEMS,
    LOG_GROUP,
    PERIOD,
    VOL_IO1,
    recommend_batch,
)

from cloudops.recommend import recommend
from cloudops.sinks.analytics import Analytics
from cloudops.sinks.clickhouse import connect, migrate
from cloudops.sinks.clickhouse.writer import insert_focus_batch
from cloudops.sinks.recommend_input import fetch_usage, file_months, usage_query
from cloudops.sinks.redis import QueryCache

pytestmark = pytest.mark.integration


@pytest.fixture
async def analytics(chdb_dsn: str) -> Analytics:
    ch = connect(chdb_dsn)
    migrate(ch, "acme")
    migrate(ch, "globex")
    batch = recommend_batch()
    await insert_focus_batch(ch, "acme", batch, token="recommend-fixture")
    await insert_focus_batch(ch, "acme", batch, token="recommend-fixture")  # redelivered: deduplicated
    return Analytics(ch, sizes_ttl_s=0)


async def test_usage_rows_come_back_one_per_month_resource_and_usage_type(analytics: Analytics) -> None:
    got = await fetch_usage(analytics, "acme", PERIOD)
    assert got.source == "focus"
    assert got.query == usage_query(PERIOD).normalized()
    assert '"ext:x_UsageType"' in got.query
    # Every line item comes back exactly once, with its values (the fixture has one per month/resource/type).
    keyed = {(r.month, r.resource_id, r.usage_detail): r for r in got.rows}
    assert len(keyed) == len(got.rows) == len(LINE_ITEMS)
    for li in LINE_ITEMS:
        row = keyed[(li.month, li.resource_id, li.usage_type)]
        assert row.provider == "aws"
        assert (row.billing_account_id, row.sub_account_id, row.region_id) == (ACCOUNT, ACCOUNT, "us-east-1")
        assert (row.product_code, row.operation, row.service_name) == (li.service[0], li.operation, li.service[1])
        assert (row.charge_category, row.pricing_category, row.currency) == ("Usage", "Standard", "USD")
        assert row.effective_cost == row.list_cost == row.billed_cost == li.cost
        assert row.pricing_quantity == row.consumed_quantity == li.quantity
        assert (row.pricing_unit, row.consumed_unit, row.sku_id) == (li.unit, li.unit, li.sku_id)
        assert row.commitment_discount_id == row.resource_type == ""
    assert isinstance(keyed[(date(2023, 11, 1), VOL_IO1, "EBS:VolumeP-IOPS.piops")].effective_cost, Decimal)


async def test_history_window_and_other_tenants(analytics: Analytics) -> None:
    only_nov = await fetch_usage(analytics, "acme", PERIOD, history_months=0)
    assert {r.month for r in only_nov.rows} == {date(2023, 11, 1)}
    logs = [r for r in only_nov.rows if r.resource_id == LOG_GROUP]
    assert [r.quantity for r in logs] == [Decimal(400)]
    assert await file_months(analytics, "acme", "recommend-fixture-2023-11") == ["2023-09", "2023-10", "2023-11"]
    assert await file_months(analytics, "acme", "no-such-file") == []
    later = await fetch_usage(analytics, "acme", "2024-03")
    assert later.rows == []
    assert (await fetch_usage(analytics, "globex", PERIOD)).rows == []


async def test_recommenders_on_fetched_rows_find_the_fixture_savings(analytics: Analytics) -> None:
    got = await fetch_usage(analytics, "acme", PERIOD)
    recs = recommend(got.rows, got.context(found_at=datetime(2023, 12, 2, tzinfo=UTC)))
    assert {(r.kind, r.resource_id): r.monthly_savings for r in recs} == EXPECTED_SAVINGS
    s3 = next(r for r in recs if r.resource_id == BUCKET)
    # The evidence query is the run's query narrowed to the resource (issue 13): same metrics and
    # dimensions, plus a ResourceId filter for this bucket only.
    run, scoped = json.loads(got.query), json.loads(s3.evidence.query)
    assert {"dimension": "ResourceId", "op": "in", "values": [BUCKET]} in scoped["filters"]
    assert scoped["metrics"] == run["metrics"]
    assert scoped["group_by"] == run["group_by"]
    assert s3.evidence.command is not None
    assert f"--filter ResourceId={BUCKET}" in s3.evidence.command
    assert {row["usage_detail"] for row in s3.evidence.rows} == {"TimedStorage-ByteHrs", "Requests-Tier2"}


async def test_a_cached_answer_gives_the_same_rows(chdb_dsn: str, redis_url: str, unique: str) -> None:
    ch = connect(chdb_dsn)
    tenant = f"rec{unique}"
    migrate(ch, tenant)
    await insert_focus_batch(ch, tenant, recommend_batch(), token=f"recommend-{unique}")
    cache = QueryCache(redis_url)
    try:
        a = Analytics(ch, cache, sizes_ttl_s=0)
        first = await fetch_usage(a, tenant, PERIOD)
        second = await fetch_usage(a, tenant, PERIOD)
        assert not first.cached
        assert second.cached
        assert second.rows == first.rows  # Decimal quantities and costs, months as dates, from the cache too
        assert second.query == first.query
    finally:
        await cache.close()
