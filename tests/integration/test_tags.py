"""Promoted tag columns on the real engine (chdb): back-filled, filled on insert, used by the planner
for raw-table tag queries with the same answers, kept through a period swap, and dropped again."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from tests.support.synthetic import BillShape, synthetic_batches

from cloudops.errors import ConfigError
from cloudops.sinks.analytics import Analytics
from cloudops.sinks.clickhouse import connect, migrate
from cloudops.sinks.clickhouse.client import ClickHouse
from cloudops.sinks.clickhouse.periods import swap_period
from cloudops.sinks.clickhouse.planner import Filter, Query
from cloudops.sinks.clickhouse.tags import column_for, demote_tag, promote_tags, promoted_tags, top_tag_keys
from cloudops.sinks.clickhouse.writer import insert_focus_batch

pytestmark = pytest.mark.integration

SHAPE = BillShape(start=datetime(2025, 1, 1, tzinfo=UTC), days=60, resources=300, sub_accounts=6, seed=5)
RAW_TAG_QUERIES = [
    # Not day-aligned (06:00): only the raw table answers these, so tags are read from focus.
    Query(group_by=("tag:team",), metrics=("BilledCost", "Rows"), start=datetime(2025, 1, 3, 6, tzinfo=UTC)),
    Query(
        filters=(Filter(dimension="tag:team", values=("payments", "")),),
        group_by=("ResourceId", "tag:env"),
        start=datetime(2025, 1, 1, 6, tzinfo=UTC),
        top_n=20,
    ),
    Query(group_by=("tag:team", "tag:env"), metrics=("EffectiveCost",)),  # two keys: no tag rollup
]


async def _load(ch: ClickHouse, tenant: str, rows: int, seed: int, **kw: bool) -> None:
    shape = BillShape(**{**SHAPE.__dict__, "seed": seed})
    for i, batch in enumerate(synthetic_batches(rows, shape=shape, batch_rows=4_000, file_id=f"{tenant}-{seed}")):
        await insert_focus_batch(ch, tenant, batch, token=f"{tenant}-{seed}-{i}", **kw)


def _mismatches(ch: ClickHouse, table: str, key: str, column: str) -> int:
    sql = f"SELECT countIf(`{column}` != JSONExtractString(ifNull(Tags, ''), {{k:String}})), count() FROM {table}"
    wrong, total = ch.call(lambda c: c.query(sql, parameters={"k": key}).result_rows[0])
    assert total > 0
    return int(wrong)


async def _answers(a: Analytics, tenant: str) -> list[list[tuple]]:
    out = []
    for q in RAW_TAG_QUERIES:
        r = await a.run(tenant, q)
        assert r.plan.source == "focus"
        out.append(sorted(r.rows, key=lambda row: tuple(str(v) for v in row)))
    return out


def test_column_names_are_safe_identifiers() -> None:
    assert column_for("team") == "tag_team"
    odd = column_for("user:cost-center")
    assert odd.startswith("tag_user_cost_center_")
    assert odd != column_for("user_cost_center")  # sanitised names do not collide
    assert column_for("it's `x`").replace("_", "").isalnum()
    with pytest.raises(ConfigError):
        column_for("bad\nkey")


async def test_promoted_tags_are_backfilled_used_by_the_planner_and_swapped(chdb_dsn: str, unique: str) -> None:
    ch = connect(chdb_dsn)
    tenant = f"tags{unique}"
    db = f"tenant_{tenant}"
    migrate(ch, tenant)
    await _load(ch, tenant, 24_000, seed=1)
    analytics = Analytics(ch, sizes_ttl_s=0)
    before = await _answers(analytics, tenant)
    assert {k for k, _ in top_tag_keys(ch, tenant, 5)} == {"env", "team"}  # the synthetic bill's keys

    promoted = promote_tags(ch, tenant, ["team", "env", "it's"])
    assert {p.key: p.column for p in promoted} == promoted_tags(ch, tenant)
    assert promote_tags(ch, tenant, ["team"])[0].column == "tag_team"  # idempotent
    for key in ("team", "env"):
        # Back-filled in the live table; present in the staging and pending twins (one structure).
        assert _mismatches(ch, f"{db}.focus", key, column_for(key)) == 0
    cols = ch.call(
        lambda c: (
            c.query(
                "SELECT table, count() FROM system.columns WHERE database = {db:String} AND name = 'tag_team' "
                "GROUP BY table ORDER BY table",
                parameters={"db": db},
            ).result_rows
        )
    )
    assert cols == [("focus", 1), ("focus_pending", 1), ("focus_staging", 1)]

    # Same answers, now from the columns instead of parsing Tags.
    after = await _answers(analytics, tenant)
    assert after == before
    plan = await analytics.plan(tenant, RAW_TAG_QUERIES[2])
    assert "`tag_team`" in plan.sql
    assert "`tag_env`" in plan.sql
    assert "JSONExtractString" not in plan.sql
    assert "promoted tag columns tag_env, tag_team" in plan.reason

    # Rows inserted after the promotion fill the columns on insert.
    await _load(ch, tenant, 8_000, seed=2)
    assert _mismatches(ch, f"{db}.focus", "team", "tag_team") == 0

    # A period swap (REPLACE PARTITION from staging) still works with the promoted columns.
    staged = []
    for batch in synthetic_batches(12_000, shape=BillShape(**{**SHAPE.__dict__, "seed": 7}), batch_rows=6_000):
        jan_aws = pc.and_(
            pc.equal(batch.column("x_Provider"), "aws"), pc.equal(pc.month(batch.column("BillingPeriodStart")), 1)
        )
        staged.append(batch.filter(jan_aws))
    table = pa.Table.from_batches(staged).combine_chunks()
    for i, b in enumerate(table.to_batches(max_chunksize=3_000)):
        await insert_focus_batch(ch, tenant, b, token=f"restate-{i}", staging=True)
    swap_period(ch, tenant, date(2025, 1, 1), "aws")
    assert _mismatches(ch, f"{db}.focus", "team", "tag_team") == 0
    jan = (
        f"SELECT count() FROM {db}.focus WHERE x_Source = 'aws' AND toYYYYMM(BillingPeriodStart) = 202501 "
        "AND tag_team = JSONExtractString(ifNull(Tags, ''), 'team')"
    )
    assert ch.call(lambda c: c.query(jan).result_rows[0][0]) == table.num_rows
    swapped = await _answers(analytics, tenant)

    # Demoted: the column is gone everywhere and the planner parses Tags again, same answers.
    assert demote_tag(ch, tenant, "team")
    assert not demote_tag(ch, tenant, "team")
    assert "team" not in promoted_tags(ch, tenant)
    plan = await analytics.plan(tenant, RAW_TAG_QUERIES[2])
    assert "JSONExtractString" in plan.sql
    assert "`tag_env`" in plan.sql
    assert await _answers(analytics, tenant) == swapped
