"""Planner extensions for the recommenders: ``ext:<x_key>`` dimensions, SkuMeter and PricingQuantity (raw only)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from cloudops.sinks.clickhouse.planner import Filter, Query, plan_query

SIZES = {
    "rollup_month": 1_000,
    "rollup_day": 30_000,
    "rollup_resource_month": 400_000,
    "rollup_tag_day": 90_000,
    "rollup_tag_month": 3_000,
}
NOV = datetime(2023, 11, 1, tzinfo=UTC)
DEC = datetime(2023, 12, 1, tzinfo=UTC)


def _params(plan: object) -> list[object]:
    values = plan.parameters.values()  # type: ignore[attr-defined]
    return [v for p in values for v in (p if isinstance(p, list) else [p])]


@pytest.mark.parametrize(
    "query",
    [
        Query(group_by=("ResourceId", "ext:x_UsageType")),
        Query(group_by=("ServiceName",), filters=(Filter(dimension="ext:x_ProductCode", values=("AmazonEC2",)),)),
        Query(group_by=("ResourceId",), metrics=("EffectiveCost", "PricingQuantity"), start=NOV, end=DEC),
        Query(group_by=("SkuMeter",)),
        Query(group_by=("tag:team", "ext:x_Operation")),
    ],
)
def test_extension_keys_sku_meter_and_pricing_quantity_are_answered_by_the_raw_table(query: Query) -> None:
    plan = plan_query(query, "tenant_acme", SIZES)
    assert plan.source == "focus", plan.explain()
    assert "FROM tenant_acme.focus" in plan.sql


def test_rollups_say_why_they_cannot_answer() -> None:
    plan = plan_query(Query(group_by=("ServiceName", "ext:x_UsageType")), "tenant_a", SIZES)
    assert "query uses x_Extensions keys" in plan.reason
    plan = plan_query(Query(group_by=("ServiceName",), metrics=("PricingQuantity",)), "tenant_a", SIZES)
    assert "lacks metric PricingQuantity" in plan.reason
    # Without them, the same query still uses a rollup.
    assert plan_query(Query(group_by=("ServiceName",)), "tenant_a", SIZES).source == "rollup_month"


def test_extension_key_is_a_bound_parameter_read_from_x_extensions() -> None:
    q = Query(
        group_by=("ResourceId", "ext:x_UsageType"),
        filters=(Filter(dimension="ext:x_Operation", values=("RunInstances",)),),
        metrics=("PricingQuantity",),
    )
    plan = plan_query(q, "tenant_a", SIZES)
    assert "x_UsageType" not in plan.sql
    assert "x_Operation" not in plan.sql
    assert "RunInstances" not in plan.sql
    assert plan.sql.count("JSONExtractString(ifNull(x_Extensions, ''), {p") == 2
    assert {"x_UsageType", "x_Operation", "RunInstances"} <= set(_params(plan))
    assert "sum(ifNull(PricingQuantity, 0)) AS `m_PricingQuantity`" in plan.sql
    assert plan.columns == ["ResourceId", "ext:x_UsageType", "PricingQuantity"]


@pytest.mark.parametrize(
    "dim", ["ext:", "ext:UsageType", "ext:x_", "ext:x_Usage'Type", "ext:x_a b", "ext:x_" + "a" * 64, "ext:x_1a"]
)
def test_extension_keys_must_look_like_x_names(dim: str) -> None:
    with pytest.raises(ValidationError, match="extension dimension"):
        Query(group_by=(dim,))
    with pytest.raises(ValidationError, match="extension dimension"):
        Filter(dimension=dim, values=("a",))


def test_normalized_query_names_extension_dimensions() -> None:
    a = Query(group_by=("ext:x_UsageType",), filters=(Filter(dimension="ext:x_ProductCode", values=("B", "A")),))
    b = Query(group_by=("ext:x_UsageType",), filters=(Filter(dimension="ext:x_ProductCode", values=("A", "B")),))
    assert a.normalized() == b.normalized()
    assert '"ext:x_UsageType"' in a.normalized()
    assert a.ext_keys() == {"x_UsageType", "x_ProductCode"}
