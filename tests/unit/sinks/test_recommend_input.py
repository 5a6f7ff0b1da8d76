"""The recommenders' evidence query and the conversion of its result rows (pure: no engine)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from cloudops.sinks.clickhouse.planner import plan_query
from cloudops.sinks.recommend_input import USAGE_DIMENSIONS, rows_from_result, usage_query


def test_usage_query_covers_whole_months_with_history() -> None:
    q = usage_query("2023-11")
    assert (q.start, q.end) == (datetime(2023, 9, 1, tzinfo=UTC), datetime(2023, 12, 1, tzinfo=UTC))
    assert q.granularity == "month"
    assert q.ext_keys() == {"x_UsageType", "x_Operation", "x_ProductCode"}
    assert usage_query("2024-01", history_months=2).start == datetime(2023, 11, 1, tzinfo=UTC)
    assert usage_query("2023-11", history_months=0).start == datetime(2023, 11, 1, tzinfo=UTC)
    plan = plan_query(q, "tenant_acme", {})
    assert plan.source == "focus"
    assert plan.columns[0] == "Period"
    with pytest.raises(ValueError, match="YYYY-MM"):
        usage_query("2023-11-01")
    with pytest.raises(ValueError, match="history_months"):
        usage_query("2023-11", history_months=-1)


def _result_row(**values: object) -> tuple[list[str], list[tuple]]:
    columns = [
        "Period",
        *(d for _, d in USAGE_DIMENSIONS),
        "ConsumedQuantity",
        "PricingQuantity",
        "EffectiveCost",
        "ListCost",
        "BilledCost",
    ]
    base: dict[str, object] = {c: "" for c in columns}
    base.update(
        {
            "Period": date(2023, 11, 1),
            "x_Provider": "azure",
            "ResourceId": "/disks/d1",
            "SkuMeter": "P10 LRS Disk",
            "ConsumedQuantity": Decimal("1"),
            "PricingQuantity": None,
            "EffectiveCost": Decimal("19.71"),
            "ListCost": "19.71",
            "BilledCost": Decimal("19.71"),
        }
    )
    base.update(values)
    return columns, [tuple(base[c] for c in columns)]


def test_result_rows_become_usage_rows() -> None:
    columns, rows = _result_row()
    (row,) = rows_from_result(columns, rows)
    assert (row.month, row.provider, row.resource_id) == (date(2023, 11, 1), "azure", "/disks/d1")
    assert row.usage_detail == "P10 LRS Disk"  # no x_UsageType: the SKU meter
    assert row.pricing_quantity == Decimal(0)  # null -> 0
    assert row.list_cost == Decimal("19.71")  # text (cache) -> Decimal
    assert row.quantity == Decimal(1)
    columns, rows = _result_row(**{"ext:x_UsageType": "EBS:VolumeUsage.gp2", "Period": "2023-11-01"})
    (row,) = rows_from_result(columns, rows)
    assert (row.usage_detail, row.month) == ("EBS:VolumeUsage.gp2", date(2023, 11, 1))


def test_a_foreign_result_is_refused() -> None:
    with pytest.raises(ValueError, match="lacks columns"):
        rows_from_result(["Period", "ServiceName", "BilledCost"], [])
