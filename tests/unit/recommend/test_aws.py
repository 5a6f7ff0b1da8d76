"""AWS recommenders: exact savings on constructed rows, and silence where nothing should be proposed."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from tests.unit.recommend.helpers import FOUND_AT, NOV, OCT, SEP, ctx, only, row

from cloudops.recommend.aws import (
    cloudwatch_logs_retention,
    ebs_gp2_to_gp3,
    ebs_io1_to_io2,
    ec2_previous_generation,
    idle_elastic_ip,
    rds_previous_generation,
    s3_lifecycle,
)
from cloudops.schemas.recommendations import AttributeChange

VOL = "vol-0a1b2c3d4e5f60001"
RDS = "arn:aws:rds:us-east-1:123456789012:db:orders-db"
LOGS = "arn:aws:logs:us-east-1:123456789012:log-group:/app/web"
_RDS_SVC = {"service_name": "Amazon Relational Database Service", "product_code": "AmazonRDS"}
_LOGS_SVC = {"service_name": "AmazonCloudWatch", "product_code": "AmazonCloudWatch"}
_S3_SVC = {"service_name": "Amazon Simple Storage Service", "product_code": "AmazonS3", "service_category": "Storage"}


# --- gp2 -> gp3 ---------------------------------------------------------------------------------------------


def test_gp2_saves_20_percent_of_its_storage_cost() -> None:
    # 150 GB: gp2 delivers at most 128 MiB/s and 450 IOPS (bursts to 3,000): gp3's included figures cover it.
    rec = only(ebs_gp2_to_gp3([row(VOL, "EBS:VolumeUsage.gp2", 150, "15.00")], ctx()))
    assert rec.kind == "aws-ebs-gp2-to-gp3"
    assert rec.monthly_savings == Decimal("3.00")
    assert (rec.resource_id, rec.resource_type, rec.provider, rec.currency) == (VOL, "aws_ebs_volume", "aws", "USD")
    assert rec.changes == (AttributeChange(attribute="type", current="gp2", proposed="gp3"),)
    assert rec.proposed == {"type": "gp3"}
    assert (rec.confidence, rec.risk, rec.period, rec.tenant) == ("high", "none", "2023-11", "acme")
    assert rec.terraform_addressable
    assert rec.evidence.rows[0]["resource_id"] == VOL
    assert rec.evidence.rows[0]["effective_cost"] == "15"
    assert rec.found_at == FOUND_AT
    # The cost table: list price x billed quantity, with the price's source, date and region.
    assert [(p.side, p.item, p.unit_price, p.quantity, p.monthly_cost) for p in rec.prices] == [
        ("current", "gp2 storage", Decimal("0.10"), Decimal(150), Decimal("15.00")),
        ("proposed", "gp3 storage", Decimal("0.08"), Decimal(150), Decimal("12.00")),
    ]
    assert {(p.source, p.as_of, p.price_region, p.region_matches) for p in rec.prices} == {
        ("https://aws.amazon.com/ebs/pricing/", "2023-11", "us-east-1", True)
    }
    assert any("128 MiB/s" in reason for reason in rec.confidence_reasons)
    assert rec.risk_basis
    assert not rec.irreversible
    assert "gp2 in place" in rec.rollback_note
    # The evidence query is the run's query narrowed to this resource and month.
    query = json.loads(rec.evidence.query)
    assert {"dimension": "ResourceId", "op": "in", "values": [VOL]} in query["filters"]
    assert (query["start"], query["end"]) == ("2023-11-01T00:00:00Z", "2023-12-01T00:00:00Z")
    assert rec.evidence.command.startswith("cloudops query cost --tenant acme --filter ResourceId=" + VOL)
    assert "--from 2023-11-01 --to 2023-12-01" in rec.evidence.command


def test_gp2_of_500_gb_keeps_250_mibps_and_pays_for_it() -> None:
    # gp2 500 GB: 50.00; gp3 40.00 + 125 MiB/s x 0.04 = 45.00: half the naive saving, said and priced.
    rec = only(ebs_gp2_to_gp3([row(VOL, "EBS:VolumeUsage.gp2", 500, "50.00")], ctx()))
    assert rec.monthly_savings == Decimal("5.00")
    assert rec.proposed == {"type": "gp3", "throughput": "250"}
    assert AttributeChange(attribute="throughput", current=None, proposed="250", value_kind="number") in rec.changes
    assert [(p.item, p.monthly_cost) for p in rec.prices if p.side == "proposed"] == [
        ("gp3 storage", Decimal("40.00")),
        ("gp3 throughput above 125 MiB/s", Decimal("5.00")),
    ]
    assert rec.confidence == "high"
    assert any("throughput = 250" in reason for reason in rec.confidence_reasons)


def test_gp2_between_170_and_334_gb_is_only_medium_confidence() -> None:
    rec = only(ebs_gp2_to_gp3([row(VOL, "EBS:VolumeUsage.gp2", 200, "20.00")], ctx()))
    assert rec.monthly_savings == Decimal("4.00")
    assert rec.proposed == {"type": "gp3"}
    assert rec.confidence == "medium"
    assert any("bursts to 250 MiB/s" in reason for reason in rec.confidence_reasons)


def test_gp2_uses_the_tenants_own_cost_and_region_prefixed_usage_types() -> None:
    # 10 % enterprise discount in us-west-2: 10 % of what the tenant pays (500 GB keeps 250 MiB/s).
    rec = only(
        ebs_gp2_to_gp3(
            [row(VOL, "USW2-EBS:VolumeUsage.gp2", 500, "45.00", list_cost="50.00", region_id="us-west-2")], ctx()
        )
    )
    assert rec.monthly_savings == Decimal("4.50")
    assert {(p.price_region, p.resource_region, p.region_matches) for p in rec.prices} == {
        ("us-east-1", "us-west-2", False)
    }
    assert any("us-east-1 prices and the resource is in us-west-2" in r for r in rec.confidence_reasons)


def test_large_gp2_keeps_its_baseline_iops_and_pays_for_them() -> None:
    # 2,000 GB gp2: 6,000 baseline IOPS, 250 MiB/s; gp3 = 160 + 3,000 IOPS x 0.005 + 125 MiB/s x 0.04 = 180 vs 200.
    rec = only(ebs_gp2_to_gp3([row(VOL, "EBS:VolumeUsage.gp2", 2000, "200.00")], ctx()))
    assert rec.monthly_savings == Decimal("20.00")
    assert rec.proposed == {"type": "gp3", "iops": "6000", "throughput": "250"}
    assert AttributeChange(attribute="iops", current=None, proposed="6000", value_kind="number") in rec.changes
    assert rec.confidence == "high"


def test_gp2_rounds_half_up_to_cents_and_drops_savings_under_a_cent() -> None:
    assert only(ebs_gp2_to_gp3([row(VOL, "EBS:VolumeUsage.gp2", 1, "0.025")], ctx())).monthly_savings == Decimal("0.01")
    assert ebs_gp2_to_gp3([row(VOL, "EBS:VolumeUsage.gp2", 1, "0.02")], ctx()) == []


@pytest.mark.parametrize(
    "rows",
    [
        [row(VOL, "EBS:VolumeUsage.gp3", 500, "40.00")],  # already gp3
        [row(VOL, "EBS:VolumeUsage.gp2", 500, "50.00", month=OCT)],  # history only
        [row(VOL, "EBS:VolumeUsage.gp2", 500, "50.00", provider="azure")],
        [row(VOL, "EBS:VolumeUsage.gp2", 500, "50.00", charge_category="Credit")],
        [row("", "EBS:VolumeUsage.gp2", 500, "50.00")],  # no resource to change
        [row(VOL, "EBS:VolumeUsage.gp2", 500, "0")],
    ],
)
def test_gp2_detects_nothing_where_it_should_not(rows: list) -> None:
    assert ebs_gp2_to_gp3(rows, ctx()) == []


# --- io1 -> io2 ---------------------------------------------------------------------------------------------


def _io1(iops: int, iops_cost: str) -> list:
    return [
        row(VOL, "EBS:VolumeUsage.piops", 200, "25.00"),
        row(VOL, "EBS:VolumeP-IOPS.piops", iops, iops_cost),
    ]


def test_io1_above_32000_iops_saves_on_the_io2_tiers() -> None:
    # 40,000 IOPS: io1 2,600 vs io2 32,000 x 0.065 + 8,000 x 0.0455 = 2,444.
    rec = only(ebs_io1_to_io2(_io1(40_000, "2600.00"), ctx()))
    assert rec.monthly_savings == Decimal("156.00")
    assert rec.changes == (AttributeChange(attribute="type", current="io1", proposed="io2"),)
    assert rec.current["iops_month"] == "40000"
    assert len(rec.evidence.rows) == 2  # storage and IOPS rows of the volume


def test_io1_third_tier_with_a_discounted_bill() -> None:
    # 70,000 IOPS: io1 4,550; io2 2,080 + 1,456 + 6,000 x 0.03185 = 3,727.10; tenant pays 90 % of list.
    rec = only(ebs_io1_to_io2(_io1(70_000, "4095.00"), ctx()))
    assert rec.monthly_savings == Decimal("740.61")


@pytest.mark.parametrize("iops", [1_000, 32_000])
def test_io1_up_to_32000_iops_saves_nothing(iops: int) -> None:
    assert ebs_io1_to_io2(_io1(iops, str(Decimal(iops) * Decimal("0.065"))), ctx()) == []


def test_io2_is_not_proposed_again() -> None:
    assert ebs_io1_to_io2([row(VOL, "EBS:VolumeP-IOPS.io2", 40_000, "2444.00")], ctx()) == []


# --- EC2 previous generation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usage", "cost", "target", "savings"),
    [
        ("BoxUsage:m4.large", "72.00", "m5.large", "2.88"),
        ("BoxUsage:c4.xlarge", "143.28", "c5.xlarge", "20.88"),
        ("USE2-BoxUsage:r4.large", "95.76", "r5.large", "5.04"),  # 720 h x 0.133, region-prefixed
        ("BoxUsage:m3.large", "95.76", "m5.large", "26.64"),
    ],
)
def test_previous_generation_instances_move_to_the_current_one(
    usage: str, cost: str, target: str, savings: str
) -> None:
    rec = only(ec2_previous_generation([row("i-1", usage, 720, cost, operation="RunInstances")], ctx()))
    assert rec.monthly_savings == Decimal(savings)
    assert rec.proposed == {"instance_type": target}
    assert rec.changes[0].attribute == "instance_type"
    assert rec.changes[0].proposed == target
    assert (rec.resource_type, rec.risk, rec.confidence) == ("aws_instance", "restart", "high")
    assert "ENA" in rec.risk_note


def test_t2_to_t3_warns_about_unlimited_credits_and_unknown_platform_lowers_confidence() -> None:
    rec = only(ec2_previous_generation([row("i-2", "BoxUsage:t2.micro", 720, "8.352")], ctx()))
    assert rec.monthly_savings == Decimal("0.86")  # 8.352 x (1 - 0.0104 / 0.0116)
    assert "cpu_credits" in rec.risk_note
    assert rec.confidence == "medium"


@pytest.mark.parametrize(
    "rows",
    [
        [row("i-3", "BoxUsage:m5.large", 720, "69.12", operation="RunInstances")],  # current generation
        [row("i-3", "BoxUsage:m4.large", 720, "43.20", operation="RunInstances", pricing_category="Committed")],
        [
            row("i-3", "BoxUsage:m4.large", 360, "36.00", operation="RunInstances"),
            row("i-3", "BoxUsage:m4.large", 360, "21.60", operation="RunInstances", commitment_discount_id="arn:ri"),
        ],
        [row("i-3", "BoxUsage:m4.large", 720, "138.24", operation="RunInstances:0002")],  # Windows
        [row("i-3", "SpotUsage:m4.large", 720, "21.60")],
        [row("i-3", "BoxUsage:m4.10xlarge", 720, "1440.00")],  # no like-for-like size
    ],
)
def test_ec2_detects_nothing_where_it_should_not(rows: list) -> None:
    assert ec2_previous_generation(rows, ctx()) == []


# --- RDS previous generation --------------------------------------------------------------------------------


def test_rds_m4_moves_to_m5() -> None:
    rows = [
        row(RDS, "InstanceUsage:db.m4.large", 720, "126.00", operation="CreateDBInstance:0002", **_RDS_SVC),
        row(RDS, "RDS:GP2-Storage", 100, "11.50", operation="CreateDBInstance:0002", **_RDS_SVC),
    ]
    rec = only(rds_previous_generation(rows, ctx()))
    assert rec.monthly_savings == Decimal("2.88")
    assert rec.changes == (AttributeChange(attribute="instance_class", current="db.m4.large", proposed="db.m5.large"),)
    assert (rec.resource_type, rec.risk, rec.confidence) == ("aws_db_instance", "restart", "high")
    assert "orders-db" in rec.title


def test_rds_multi_az_and_postgres() -> None:
    rows = [row(RDS, "Multi-AZUsage:db.m4.large", 720, "252.00", operation="CreateDBInstance:0014", **_RDS_SVC)]
    rec = only(rds_previous_generation(rows, ctx()))
    assert rec.monthly_savings == Decimal("5.76")
    assert rec.confidence == "medium"


@pytest.mark.parametrize(
    "rows",
    [
        [row(RDS, "InstanceUsage:db.r4.large", 720, "172.80", operation="CreateDBInstance:0002")],  # price-neutral
        [row(RDS, "InstanceUsage:db.t2.micro", 720, "12.24", operation="CreateDBInstance:0002")],  # price-neutral
        [row(RDS, "InstanceUsage:db.m5.large", 720, "123.12", operation="CreateDBInstance:0002")],
        [row(RDS, "InstanceUsage:db.m4.large", 720, "300.00", operation="CreateDBInstance:0005")],  # Oracle
        [row(RDS, "InstanceUsage:db.m4.large", 720, "80.00", pricing_category="Committed")],
    ],
)
def test_rds_detects_nothing_where_it_should_not(rows: list) -> None:
    assert rds_previous_generation(rows, ctx()) == []


# --- idle Elastic IP ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("usage", ["ElasticIP:IdleAddress", "PublicIPv4:IdleAddress", "USW2-ElasticIP:IdleAddress"])
def test_idle_ip_is_report_only_and_saves_its_whole_cost(usage: str) -> None:
    rec = only(idle_elastic_ip([row("eipalloc-1", usage, 720, "3.60")], ctx()))
    assert rec.monthly_savings == Decimal("3.60")
    assert rec.changes == ()
    assert rec.resource_type is None
    assert not rec.terraform_addressable
    assert rec.proposed == {"action": "release"}


def test_ip_in_use_is_not_idle() -> None:
    assert idle_elastic_ip([row("eipalloc-1", "PublicIPv4:InUseAddress", 720, "3.60")], ctx()) == []


# --- CloudWatch Logs retention ------------------------------------------------------------------------------


def _logs(*months: tuple, resource: str = LOGS, **kw: str) -> list:
    return [row(resource, "TimedStorage-ByteHrs", q, c, month=m, **{**_LOGS_SVC, **kw}) for m, q, c in months]


def test_growing_log_storage_gets_30_day_retention() -> None:
    rows = _logs((SEP, 200, "6.00"), (OCT, 300, "9.00"), (NOV, 400, "12.00"))
    rec = only(cloudwatch_logs_retention(rows, ctx()))
    # One month of growth (100 GB-Mo) is kept: saves 12.00 x 300 / 400.
    assert rec.monthly_savings == Decimal("9.00")
    assert rec.changes == (
        AttributeChange(attribute="retention_in_days", current=None, proposed="30", value_kind="number"),
    )
    assert (rec.resource_type, rec.confidence) == ("aws_cloudwatch_log_group", "medium")
    assert "/app/web" in rec.title
    assert len(rec.evidence.rows) == 3


def test_two_months_of_growth_is_low_confidence() -> None:
    rec = only(cloudwatch_logs_retention(_logs((OCT, 300, "9.00"), (NOV, 400, "12.00")), ctx()))
    assert (rec.monthly_savings, rec.confidence) == (Decimal("9.00"), "low")


def test_year_boundary_uses_december_as_the_previous_month() -> None:
    from datetime import date

    rows = _logs((date(2023, 12, 1), 100, "3.00"), (date(2024, 1, 1), 150, "4.50"))
    assert only(cloudwatch_logs_retention(rows, ctx("2024-01"))).monthly_savings == Decimal("3.00")


@pytest.mark.parametrize(
    "rows",
    [
        _logs((OCT, 400, "12.00"), (NOV, 400, "12.00")),  # flat: retention already set
        _logs((OCT, 450, "13.50"), (NOV, 400, "12.00")),  # shrinking
        _logs((NOV, 400, "12.00")),  # no history
        _logs((SEP, 300, "9.00"), (NOV, 400, "12.00")),  # gap: October missing
        _logs((OCT, 300, "6.90"), (NOV, 400, "9.20"), **_S3_SVC),  # S3 storage, not logs
    ],
)
def test_logs_detect_nothing_where_they_should_not(rows: list) -> None:
    assert cloudwatch_logs_retention(rows, ctx()) == []


# --- S3 lifecycle -------------------------------------------------------------------------------------------


def _bucket(gb: int, cost: str, gets: int, **kw: str) -> list:
    return [
        row("archive", "TimedStorage-ByteHrs", gb, cost, **{**_S3_SVC, **kw}),
        row("archive", "Requests-Tier2", gets, str(Decimal(gets) * Decimal("0.0000004")), **_S3_SVC),
    ]


def test_large_cold_bucket_is_an_intelligent_tiering_candidate() -> None:
    rec = only(s3_lifecycle(_bucket(5000, "115.00", 1000), ctx()))
    assert rec.monthly_savings == Decimal("52.50")  # 115 x (1 - 0.0125 / 0.023)
    assert (rec.changes, rec.resource_type, rec.confidence) == ((), None, "low")
    assert rec.proposed == {"storage_class": "INTELLIGENT_TIERING"}


@pytest.mark.parametrize(
    "rows",
    [
        _bucket(5000, "115.00", 50_000),  # hot: 10 GETs per GB
        _bucket(500, "11.50", 0),  # small
        [row("archive", "TimedStorage-SIA-ByteHrs", 5000, "62.50", **_S3_SVC)],  # already Standard-IA
    ],
)
def test_s3_detects_nothing_where_it_should_not(rows: list) -> None:
    assert s3_lifecycle(rows, ctx()) == []
