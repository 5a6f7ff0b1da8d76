"""Report-only commitment recommenders: unused commitments and low coverage."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.unit.recommend.helpers import OCT, ctx, only, row

from cloudops.recommend.commitments import commitment_low_coverage, commitment_unused

RI = "arn:aws:ec2:us-east-1:123456789012:reserved-instances/abcd"
SP = "arn:aws:savingsplans::123456789012:savingsplan/1234"


def test_unused_rows_of_one_commitment_add_up() -> None:
    rows = [
        row(
            "",
            "",
            0,
            "40.00",
            commitment_discount_id=SP,
            commitment_discount_status="Unused",
            commitment_discount_type="Savings Plan",
        ),
        row(
            "",
            "",
            0,
            "10.00",
            commitment_discount_id=SP,
            commitment_discount_status="Unused",
            commitment_discount_type="Savings Plan",
        ),
        row(
            "i-1",
            "BoxUsage:m5.large",
            720,
            "50.00",
            commitment_discount_id=SP,
            commitment_discount_status="Used",
            pricing_category="Committed",
        ),
    ]
    rec = only(commitment_unused(rows, ctx()))
    assert rec.monthly_savings == Decimal("50.00")
    assert (rec.resource_id, rec.kind, rec.changes, rec.resource_type) == (SP, "commitment-unused", (), None)
    assert rec.title.startswith("Savings Plan ")
    assert len(rec.evidence.rows) == 2


def test_aws_cur_recurring_fee_with_effective_cost_is_unused_commitment() -> None:
    fee = row(
        "",
        "HeavyUsage:m5.large",
        720,
        "25.00",
        charge_category="Purchase",
        commitment_discount_id=RI,
        commitment_discount_type="Reserved Instance",
    )
    assert only(commitment_unused([fee], ctx())).monthly_savings == Decimal("25.00")


@pytest.mark.parametrize(
    "rows",
    [
        [row("", "HeavyUsage:m5.large", 720, "0", charge_category="Purchase", commitment_discount_id=RI)],  # all used
        [row("i-1", "BoxUsage:m5.large", 720, "30.00", commitment_discount_id=RI, commitment_discount_status="Used")],
        [row("", "", 0, "40.00", commitment_discount_id=SP, commitment_discount_status="Unused", month=OCT)],
        [row("", "Fee", 0, "100.00", charge_category="Purchase")],  # a purchase without a commitment
    ],
)
def test_unused_detects_nothing_where_it_should_not(rows: list) -> None:
    assert commitment_unused(rows, ctx()) == []


def _box(rid: str, cost: str, *, committed: str | None = None, list_cost: str | None = None, **kw: str) -> object:
    extra = {"pricing_category": "Committed", "commitment_discount_id": committed} if committed else {}
    return row(rid, "BoxUsage:m5.large", 720, cost, list_cost=list_cost, operation="RunInstances", **{**extra, **kw})


def test_all_on_demand_compute_uses_the_typical_discount() -> None:
    rows = [
        _box("i-1", "72.00"),
        _box("i-2", "143.28"),
        _box("i-3", "69.12"),
        row("vol-1", "EBS:VolumeUsage.gp2", 500, "50.00"),  # storage is not commitment-eligible
        row("eip-1", "ElasticIP:IdleAddress", 720, "3.60"),
    ]
    rec = only(commitment_low_coverage(rows, ctx()))
    # Cover 284.40 x (1 - 0.30) = 199.08 of on-demand at 28 % off.
    assert rec.monthly_savings == Decimal("55.74")
    assert (rec.resource_id, rec.confidence, rec.changes) == ("123456789012", "low", ())
    assert rec.current["on_demand_share"] == "1.0000"
    assert len(rec.evidence.rows) == 3


def test_own_commitment_discount_is_used_when_there_is_one() -> None:
    rows = [_box("i-1", "300.00"), _box("i-2", "60.00", committed=SP, list_cost="100.00")]
    rec = only(commitment_low_coverage(rows, ctx()))
    # share 300/400 = 75 %; cover 300 - 0.3 x 400 = 180 at the account's own 40 % off.
    assert rec.monthly_savings == Decimal("72.00")
    assert rec.confidence == "medium"


@pytest.mark.parametrize(
    "rows",
    [
        [_box("i-1", "100.00"), _box("i-2", "240.00", committed=SP, list_cost="400.00")],  # 20 % on demand
        [_box("i-1", "50.00")],  # too small to matter
        [_box("i-1", "500.00", provider="azure", service_category="Compute", consumed_unit="Hours")],  # no rate known
        [_box("i-1", "500.00", month=OCT)],
    ],
)
def test_coverage_detects_nothing_where_it_should_not(rows: list) -> None:
    assert commitment_low_coverage(rows, ctx()) == []


def test_gcp_compute_hours_are_eligible() -> None:
    rows = [
        row(
            "vm-1",
            "N2 Instance Core running in Americas",
            720,
            "200.00",
            provider="gcp",
            consumed_unit="hour",
            product_code="",
        )
    ]
    rec = only(commitment_low_coverage(rows, ctx()))
    assert rec.monthly_savings == Decimal("51.80")  # 200 x 0.7 x 0.37
