"""The registry, the price tables, UsageRow and the shared test bill end to end."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from tests.support.recommend_data import ACCOUNT, EXPECTED_SAVINGS, LINE_ITEMS, PERIOD
from tests.unit.recommend.helpers import ctx, row

from cloudops.recommend import (
    RECOMMENDERS,
    RecommendContext,
    UsageRow,
    kinds,
    load_price_book,
    recommend,
    recommender,
)
from cloudops.recommend import prices as prices_module
from cloudops.schemas.recommendations import Recommendation

STABLE_KINDS = [
    "aws-ebs-gp2-to-gp3",
    "aws-ebs-io1-to-io2",
    "aws-ec2-previous-generation",
    "aws-rds-previous-generation",
    "azure-managed-disk-tier",
    "gcp-pd-ssd-to-balanced",
    "aws-idle-elastic-ip",
    "aws-cloudwatch-logs-retention",
    "aws-s3-lifecycle",
    "commitment-unused",
    "commitment-low-coverage",
]


def _bill_rows() -> list[UsageRow]:
    return [
        row(
            li.resource_id,
            li.usage_type,
            str(li.quantity),
            str(li.cost),
            month=li.month,
            operation=li.operation,
            product_code=li.service[0],
            service_name=li.service[1],
            service_category=li.service[2],
            pricing_unit=li.unit,
            consumed_unit=li.unit,
            sku_id=li.sku_id,
        )
        for li in LINE_ITEMS
    ]


def test_kinds_are_stable_and_unique() -> None:
    assert kinds() == STABLE_KINDS
    assert recommender("aws-ebs-gp2-to-gp3").fn is RECOMMENDERS[0].fn
    with pytest.raises(KeyError, match="unknown recommender"):
        recommender("nope")


def test_the_shared_bill_yields_exactly_the_expected_savings_sorted() -> None:
    recs = recommend(_bill_rows(), ctx(PERIOD))
    assert {(r.kind, r.resource_id): r.monthly_savings for r in recs} == EXPECTED_SAVINGS
    assert [r.monthly_savings for r in recs] == sorted((r.monthly_savings for r in recs), reverse=True)
    assert all(r.period == PERIOD and r.currency == "USD" for r in recs)
    # Report-only kinds never carry Terraform edits; the others always do.
    for r in recs:
        assert r.terraform_addressable == (not recommender(r.kind).report_only), r.kind
    # The records survive the wire (JSON) unchanged.
    for r in recs:
        assert Recommendation.model_validate_json(r.model_dump_json()) == r


def test_fingerprints_are_stable_across_runs_and_found_at() -> None:
    first = {r.fingerprint for r in recommend(_bill_rows(), ctx())}
    later = RecommendContext(tenant="acme", period="2023-11", query="other", found_at=None)
    assert {r.fingerprint for r in recommend(_bill_rows(), later)} == first
    other_tenant = {r.fingerprint for r in recommend(_bill_rows(), ctx(tenant="globex"))}
    assert first.isdisjoint(other_tenant)


def test_only_runs_the_named_kinds() -> None:
    recs = recommend(_bill_rows(), ctx(), only=["aws-ebs-gp2-to-gp3"])
    assert {r.kind for r in recs} == {"aws-ebs-gp2-to-gp3"}
    with pytest.raises(KeyError):
        recommend(_bill_rows(), ctx(), only=["nope"])


def test_another_month_finds_nothing_in_this_bill() -> None:
    assert recommend(_bill_rows(), ctx("2024-01")) == []


def test_price_book_covers_every_table_kind_and_tiers_correctly() -> None:
    book = load_price_book()
    assert {k for k, _ in book.replacements} <= set(kinds())
    assert all(r.source.startswith("https://") for r in book.replacements.values())
    assert book.tiered_cost("aws-ebs-io2-iops-month", Decimal(40_000)) == Decimal("2444.0000")
    assert book.tiered_cost("aws-ebs-io2-iops-month", Decimal(70_000)) == Decimal("3727.10000")
    assert book.tiered_cost("aws-ebs-io2-iops-month", Decimal(10)) == Decimal("0.650")
    assert book.replacement("aws-ec2-previous-generation", "m4.large").ratio == Decimal("0.96")  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="tiered"):
        book.price("aws-ebs-io2-iops-month")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("source", "aws.amazon.com/ebs/pricing/", "https"),
        ("as_of", "Nov 2023", "as_of"),
        ("price", "cheap", "not a decimal"),
        ("price", "-1", "non-negative"),
        ("region", "", "region"),
    ],
)
def test_a_bad_price_row_is_refused_with_file_and_line(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str, message: str
) -> None:
    good = {
        "key": "k",
        "price": "0.1",
        "unit": "GB-Mo",
        "upto": "",
        "region": "us-east-1",
        "source": "https://example.com/p",
        "as_of": "2023-11",
        "note": "",
    }
    monkeypatch.setattr(prices_module, "_rows", lambda name: [("prices.csv:7", {**good, field: value})])
    with pytest.raises(ValueError, match=rf"prices.csv:7.*{message}|{message}.*"):
        prices_module._parse_prices()


def test_tiers_must_increase(monkeypatch: pytest.MonkeyPatch) -> None:
    base = {"key": "k", "unit": "u", "region": "r", "source": "https://x", "as_of": "2023-11", "note": ""}
    rows = [("p:2", {**base, "price": "1", "upto": "10"}), ("p:3", {**base, "price": "0.5", "upto": "5"})]
    monkeypatch.setattr(prices_module, "_rows", lambda name: rows)
    with pytest.raises(ValueError, match="increasing"):
        prices_module._parse_prices()


def test_usage_row_refuses_floats_and_mid_month_dates() -> None:
    with pytest.raises(TypeError, match="effective_cost must be a Decimal"):
        UsageRow(month=date(2023, 11, 1), provider="aws", effective_cost=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="first day"):
        UsageRow(month=date(2023, 11, 2), provider="aws")
    with pytest.raises(ValueError, match="YYYY-MM"):
        RecommendContext(tenant="acme", period="2023-13", query="")
    with pytest.raises(ValueError, match="invalid tenant id"):
        RecommendContext(tenant="Acme;", period="2023-11", query="")


def test_usage_row_evidence_is_text() -> None:
    r = row("vol-1", "EBS:VolumeUsage.gp2", "500.000", "50.0000000000")
    ev = r.as_evidence()
    assert ev["effective_cost"] == "50"
    assert ev["pricing_quantity"] == "500"
    assert ev["month"] == "2023-11"
    assert ev["billing_account_id"] == ACCOUNT
    assert all(isinstance(v, str) for v in ev.values())
