"""The planner's choice for a table of queries, and its guarantees (pure: no engine)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from cloudops.errors import ConfigError
from cloudops.sinks.clickhouse.planner import Filter, Query, plan_query

SIZES = {
    "rollup_month": 1_000,
    "rollup_day": 30_000,
    "rollup_resource_month": 400_000,
    "rollup_tag_day": 90_000,
    "rollup_tag_month": 3_000,
}
D = datetime(2025, 1, 1, tzinfo=UTC)
MID = datetime(2025, 1, 15, tzinfo=UTC)
NOON = datetime(2025, 1, 15, 12, tzinfo=UTC)

CASES = [
    (Query(group_by=("ServiceName",)), "rollup_month"),
    (Query(group_by=("ServiceName",), granularity="month"), "rollup_month"),
    (Query(group_by=("ServiceName",), granularity="day"), "rollup_day"),
    (Query(group_by=("ServiceName",), start=D, end=MID), "rollup_day"),  # not month-aligned
    (Query(group_by=("ServiceName",), start=D, end=datetime(2025, 3, 1, tzinfo=UTC)), "rollup_month"),
    (Query(group_by=("ServiceName",), start=NOON), "focus"),  # not day-aligned
    # whole months from rollup_month, the partial months at both edges from rollup_day
    (Query(group_by=("ServiceName",), start=MID, end=datetime(2025, 4, 10, tzinfo=UTC)), "rollup_day+rollup_month"),
    (Query(granularity="month", start=MID, end=datetime(2025, 3, 1, tzinfo=UTC)), "rollup_day+rollup_month"),
    (Query(granularity="day", start=MID, end=datetime(2025, 4, 10, tzinfo=UTC)), "rollup_day"),  # day periods
    (Query(group_by=("ResourceId",), top_n=50), "rollup_resource_month"),
    (Query(group_by=("ResourceId",), top_n=50, start=D, end=MID), "focus"),  # resources roll up by month
    (Query(group_by=("ResourceId", "ChargeCategory")), "focus"),  # no rollup has both
    (Query(group_by=("tag:team",)), "rollup_tag_month"),
    (Query(group_by=("tag:team",), granularity="day"), "rollup_tag_day"),
    (
        Query(group_by=("tag:team",), start=MID, end=datetime(2025, 4, 10, tzinfo=UTC)),
        "rollup_tag_day+rollup_tag_month",
    ),
    (Query(group_by=("tag:team",), start=D, end=MID), "rollup_tag_day"),
    (Query(group_by=("tag:team", "tag:env")), "focus"),  # two tag keys
    (Query(group_by=("tag:team", "RegionId")), "focus"),  # tag rollup lacks RegionId
    (Query(filters=(Filter(dimension="tag:env", values=("prod",)),), group_by=("ServiceName",)), "rollup_tag_month"),
    (Query(group_by=("AvailabilityZone",)), "focus"),
    (Query(group_by=("CommitmentDiscountStatus", "PricingCategory"), granularity="day"), "rollup_day"),
    (Query(filters=(Filter(dimension="x_FileId", values=("abc",)),)), "focus"),
]


@pytest.mark.parametrize(("query", "source"), CASES)
def test_planner_picks_the_smallest_exact_source(query: Query, source: str) -> None:
    plan = plan_query(query, "tenant_acme", SIZES)
    assert plan.source == source, plan.explain()
    assert "tenant_acme." in plan.sql


def test_smaller_rollup_wins_when_both_answer() -> None:
    q = Query(group_by=("ServiceName",), granularity="day")
    assert plan_query(q, "tenant_a", {**SIZES, "rollup_day": 10}).source == "rollup_day"
    q = Query(group_by=("ServiceName",))
    assert plan_query(q, "tenant_a", {**SIZES, "rollup_resource_month": 5}).source == "rollup_resource_month"


def test_raw_can_be_forced_and_says_why() -> None:
    plan = plan_query(Query(group_by=("ServiceName",)), "tenant_a", SIZES, allow_rollups=False)
    assert plan.source == "focus"
    assert plan.reason == "rollups disabled"
    plan = plan_query(Query(group_by=("AvailabilityZone",)), "tenant_a", SIZES)
    assert "lacks AvailabilityZone" in plan.reason


def test_user_values_are_parameters_never_sql() -> None:
    evil = "x' OR 1=1 --"
    q = Query(filters=(Filter(dimension="ServiceName", values=(evil,)),), group_by=(f"tag:{evil}",))
    for allow in (True, False):
        plan = plan_query(q, "tenant_a", SIZES, allow_rollups=allow)
        assert evil not in plan.sql
        assert evil in [v for p in plan.parameters.values() for v in (p if isinstance(p, list) else [p])]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"group_by": ("ServiceName; DROP TABLE x",)},
        {"group_by": ("ServiceName", "ServiceName")},
        {"filters": ({"dimension": "Nope", "values": ["a"]},)},
        {"start": MID, "end": D},
        {"metrics": ("Dollars",)},
        {"top_n": 0},
    ],
)
def test_invalid_queries_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValidationError):
        Query(**kwargs)


def test_database_name_is_validated() -> None:
    with pytest.raises(ConfigError):
        plan_query(Query(), "tenant_a; DROP", SIZES)


def test_normalised_form_ignores_filter_order() -> None:
    a = Query(filters=(Filter(dimension="RegionId", values=("b", "a")), Filter(dimension="ServiceName", values=("s",))))
    b = Query(filters=(Filter(dimension="ServiceName", values=("s",)), Filter(dimension="RegionId", values=("a", "b"))))
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != Query().fingerprint()


def test_split_reads_whole_months_from_the_month_rollup_and_the_edges_from_the_day_rollup() -> None:
    q = Query(group_by=("ServiceName",), start=MID, end=datetime(2025, 4, 10, tzinfo=UTC))
    plan = plan_query(q, "tenant_a", SIZES)
    parts = plan.sql.split("UNION ALL")
    assert [("rollup_month" in p, "rollup_day" in p) for p in parts] == [(False, True), (True, False), (False, True)]
    bounds = [v for v in plan.parameters.values() if isinstance(v, date)]
    assert bounds == [
        date(2025, 1, 15),
        date(2025, 2, 1),  # day rollup: Jan 15 .. Feb 1
        date(2025, 2, 1),
        date(2025, 4, 1),  # month rollup: Feb, Mar
        date(2025, 4, 1),
        date(2025, 4, 10),  # day rollup: Apr 1 .. Apr 10
    ]
    # Filters apply in every part; the month part exposes its Month as the day column.
    q = q.model_copy(update={"filters": (Filter(dimension="RegionId", values=("eu-west-1",)),)})
    plan = plan_query(q, "tenant_a", SIZES)
    assert plan.sql.count("`RegionId` IN") == 3
    assert "SELECT Month AS Day" in plan.sql


def test_no_split_without_a_whole_month_or_for_day_periods() -> None:
    assert plan_query(Query(start=D, end=MID), "tenant_a", SIZES).source == "rollup_day"
    jan_to_feb = Query(start=MID, end=datetime(2025, 2, 10, tzinfo=UTC))  # no whole month inside
    assert plan_query(jan_to_feb, "tenant_a", SIZES).source == "rollup_day"
