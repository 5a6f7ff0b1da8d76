"""Rollups, planner, tenant isolation and cache on the real engine (chdb) and a real Redis."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from tests.support.synthetic import BillShape, synthetic_batches

from cloudops.sinks.analytics import Analytics
from cloudops.sinks.clickhouse import connect, migrate
from cloudops.sinks.clickhouse.client import ClickHouse
from cloudops.sinks.clickhouse.periods import swap_period
from cloudops.sinks.clickhouse.planner import Filter, Query
from cloudops.sinks.clickhouse.writer import insert_focus_batch
from cloudops.sinks.redis import QueryCache, publish_loaded

pytestmark = pytest.mark.integration

SHAPE = BillShape(start=datetime(2025, 1, 1, tzinfo=UTC), days=90, resources=500, sub_accounts=12, seed=11)
JAN = datetime(2025, 1, 1, tzinfo=UTC)
FEB = datetime(2025, 2, 1, tzinfo=UTC)
MAR = datetime(2025, 3, 1, tzinfo=UTC)

QUERIES = [
    Query(group_by=("ServiceName",)),
    Query(metrics=("BilledCost", "EffectiveCost", "Savings", "Rows"), group_by=("ProviderName", "RegionId")),
    Query(group_by=("BillingAccountId",), granularity="day", start=JAN, end=FEB),
    Query(group_by=("ServiceCategory",), granularity="month"),
    Query(group_by=("ChargeCategory", "PricingCategory", "CommitmentDiscountStatus"), start=FEB, end=MAR),
    Query(group_by=("ResourceId",), top_n=50, start=JAN, end=MAR),
    Query(group_by=("tag:team",), metrics=("BilledCost", "Rows")),
    Query(group_by=("tag:env", "ServiceName"), granularity="month", metrics=("EffectiveCost", "Rows")),
    Query(filters=(Filter(dimension="tag:team", values=("payments", "")),), group_by=("SubAccountId",)),
    Query(filters=(Filter(dimension="ProviderName", op="not_in", values=("AWS",)),), group_by=("ServiceName",)),
    Query(group_by=("ConsumedUnit",), metrics=("ConsumedQuantity",), start=datetime(2025, 1, 10, 6, tzinfo=UTC)),
    # Ranges with whole months inside and partial months at the edges (split over two rollups).
    Query(group_by=("ServiceName",), granularity="month", start=datetime(2025, 1, 20, tzinfo=UTC), end=MAR),
    Query(group_by=("tag:team",), start=datetime(2025, 1, 10, tzinfo=UTC), end=datetime(2025, 3, 20, tzinfo=UTC)),
    Query(
        filters=(Filter(dimension="tag:env", values=("prod",)),),
        group_by=("BillingAccountId",),
        granularity="month",
        start=datetime(2025, 1, 3, tzinfo=UTC),
        end=datetime(2025, 3, 2, tzinfo=UTC),
    ),
]


async def _load(ch: ClickHouse, tenant: str, rows: int, *, seed: int, duplicate_every: int = 0) -> None:
    shape = BillShape(**{**SHAPE.__dict__, "seed": seed})
    # A tenant held at an older migration (e.g. before 0005's FOCUS 1.3 columns) gets the columns it has.
    have = ch.call(
        lambda c: (
            c.query(
                "SELECT name FROM system.columns WHERE database = {db:String} AND table = 'focus'",
                parameters={"db": f"tenant_{tenant}"},
            ).result_rows
        )
    )
    names = {n for (n,) in have}
    for i, batch in enumerate(synthetic_batches(rows, shape=shape, batch_rows=5_000, file_id=f"{tenant}-{seed}")):
        batch = batch.select([n for n in batch.schema.names if n in names])
        token = f"{tenant}-{seed}-{i}"
        await insert_focus_batch(ch, tenant, batch, token=token)
        if duplicate_every and i % duplicate_every == 0:
            await insert_focus_batch(ch, tenant, batch, token=token)  # redelivered: must not count twice


@pytest.fixture
async def analytics(chdb_dsn: str) -> Analytics:
    ch = connect(chdb_dsn)
    for tenant in ("acme", "globex"):
        migrate(ch, tenant)
    await _load(ch, "acme", 40_000, seed=1, duplicate_every=3)
    await _load(ch, "globex", 10_000, seed=2)
    return Analytics(ch, sizes_ttl_s=0)


def _sorted(rows: list[tuple]) -> list[tuple]:
    return sorted(rows, key=lambda r: tuple(str(x) for x in r))


async def _assert_rollups_equal_raw(a: Analytics, tenant: str) -> list[str]:
    sources = []
    for q in QUERIES:
        planned = await a.run(tenant, q)
        raw = await a.run(tenant, q, allow_rollups=False)
        assert raw.plan.source == "focus"
        sources.append(planned.plan.source)
        if q.top_n:
            # Ties at the cut can order differently; compare the values, then the sets.
            assert [r[-1] for r in planned.rows] == [r[-1] for r in raw.rows], q
        else:
            assert _sorted(planned.rows) == _sorted(raw.rows), (q, planned.plan.explain())
        assert planned.rows, q
    return sources


async def test_rollups_equal_raw_through_duplicates_and_a_restated_month(analytics: Analytics) -> None:
    ch = analytics.ch
    count = ch.call(lambda c: c.query("SELECT count() FROM tenant_acme.focus").result_rows[0][0])
    assert count == 40_000  # duplicate deliveries were deduplicated
    sources = await _assert_rollups_equal_raw(analytics, "acme")
    # The planner used rollups where they answer exactly, and the raw table otherwise.
    assert sources[0] == "rollup_month"
    assert sources[2] == "rollup_day"
    assert sources[5] == "rollup_resource_month"
    assert sources[6] == "rollup_tag_month"
    assert sources[10] == "focus"  # start at 06:00 is not day-aligned
    assert sources[11:] == ["rollup_day+rollup_month", *["rollup_tag_day+rollup_tag_month"] * 2]

    # Restate February for source "aws": new contents staged, then swapped in.
    restated = []
    for batch in synthetic_batches(21_000, shape=BillShape(**{**SHAPE.__dict__, "seed": 99}), batch_rows=7_000):
        feb = pc.and_(
            pc.equal(batch.column("x_Provider"), "aws"),
            pc.equal(pc.month(batch.column("BillingPeriodStart")), 2),
        )
        restated.append(batch.filter(feb))
    table = pa.Table.from_batches(restated).combine_chunks()
    for i, b in enumerate(table.to_batches(max_chunksize=3_000)):
        await insert_focus_batch(ch, "acme", b, token=f"restate-{i}", staging=True)
    q = (
        "SELECT count(), sum(BilledCost) FROM tenant_acme.focus "
        "WHERE x_Source = 'aws' AND toYYYYMM(BillingPeriodStart) = 202502"
    )
    before, _ = ch.call(lambda c: c.query(q).result_rows[0])
    others = (
        "SELECT count() FROM tenant_acme.focus WHERE NOT (x_Source = 'aws' AND toYYYYMM(BillingPeriodStart) = 202502)"
    )
    untouched = ch.call(lambda c: c.query(others).result_rows[0][0])
    assert before > 0
    assert table.num_rows > 0
    assert table.num_rows != before
    swap_period(ch, "acme", date(2025, 2, 1), "aws")
    n, total = ch.call(lambda c: c.query(q).result_rows[0])
    assert ch.call(lambda c: c.query(others).result_rows[0][0]) == untouched
    assert n == table.num_rows
    assert Decimal(total) == sum((v for v in table.column("BilledCost").to_pylist()), Decimal(0))
    staged = ch.call(lambda c: c.query("SELECT count() FROM tenant_acme.focus_staging").result_rows[0][0])
    assert staged == 0
    await _assert_rollups_equal_raw(analytics, "acme")


async def test_no_query_for_one_tenant_reads_another(analytics: Analytics) -> None:
    q = Query(metrics=("BilledCost", "Rows"))
    acme = await analytics.run("acme", q, allow_rollups=False)
    globex = await analytics.run("globex", q, allow_rollups=False)
    assert acme.rows[0][-1] == 40_000
    assert globex.rows[0][-1] == 10_000
    for tenant in ("acme", "globex"):
        for query in QUERIES:
            plan = await analytics.plan(tenant, query)
            other = "globex" if tenant == "acme" else "acme"
            assert f"tenant_{other}" not in plan.sql
            assert f"tenant_{tenant}." in plan.sql
    with pytest.raises(ValueError, match="invalid tenant"):
        await analytics.run("acme; DROP DATABASE tenant_globex", q)
    with pytest.raises(ValueError, match="invalid tenant"):
        await analytics.run("globex.focus --", q)


async def test_cache_hits_until_a_load_bumps_the_version(analytics: Analytics, redis_url: str, unique: str) -> None:
    cache = QueryCache(redis_url)
    a = Analytics(analytics.ch, cache, sizes_ttl_s=0)
    q = Query(group_by=("ServiceName",), metrics=("BilledCost", "Rows"))
    first = await a.run("acme", q)
    second = await a.run("acme", q)
    assert not first.cached
    assert second.cached
    assert second.rows == first.rows
    # Another tenant with the same query never sees acme's entry.
    other = await a.run("globex", q)
    assert not other.cached
    assert sum(r[-1] for r in other.rows) == 10_000
    # New data lands, the loader bumps the version: the next answer is fresh.
    await _load(analytics.ch, "acme", 5_000, seed=7)
    await publish_loaded(redis_url, "acme", "file-x")
    third = await a.run("acme", q)
    assert not third.cached
    assert sum(r[-1] for r in third.rows) == 45_000
    assert (await a.run("acme", q)).cached
    await cache.close()


async def test_tag_rollup_migration_keeps_the_data_both_ways(chdb_dsn: str) -> None:
    """0004 re-orders rollup_tag_day and back-fills rollup_tag_month from it; reverting keeps the data."""
    ch = connect(chdb_dsn)
    migrate(ch, "initech", target=3)
    await _load(ch, "initech", 12_000, seed=5)
    a = Analytics(ch, sizes_ttl_s=0)
    q = Query(group_by=("tag:team",), metrics=("BilledCost", "Rows"))
    raw = _sorted((await a.run("initech", q, allow_rollups=False)).rows)
    migrate(ch, "initech")
    planned = await a.run("initech", q)
    assert planned.plan.source == "rollup_tag_month"
    assert _sorted(planned.rows) == raw
    await _load(ch, "initech", 3_000, seed=6)  # the re-created views feed both tag rollups
    raw = _sorted((await a.run("initech", q, allow_rollups=False)).rows)
    assert _sorted((await a.run("initech", q)).rows) == raw
    migrate(ch, "initech", target=3)
    tables = ch.call(lambda c: c.query("SHOW TABLES FROM tenant_initech").result_rows)
    assert not [t for (t,) in tables if "tag_month" in t]
    day = Query(group_by=("tag:team",), metrics=("BilledCost", "Rows"), granularity="day")
    assert _sorted((await a.run("initech", day)).rows) == _sorted(
        (await a.run("initech", day, allow_rollups=False)).rows
    )
