"""cloudops' own FOCUS 1.2 checks (requirements model interpreted with pyarrow compute)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from cloudops.focus.convert import focus_schema
from cloudops.focus.validate import (
    ALL,
    Finding,
    ValidationReport,
    currency_codes,
    load_model,
    parse_junit,
    validate_table,
)
from cloudops.sources.converter import open_conversion

GOOD: dict[str, Any] = {
    "BilledCost": Decimal("1.5"),
    "EffectiveCost": Decimal("1.5"),
    "ListCost": Decimal("2"),
    "ContractedCost": Decimal("1.5"),
    "BillingAccountId": "123",
    "BillingAccountName": "acme",
    "BillingAccountType": "Billing Account",
    "BillingCurrency": "USD",
    "BillingPeriodStart": datetime(2024, 1, 1, tzinfo=UTC),
    "BillingPeriodEnd": datetime(2024, 2, 1, tzinfo=UTC),
    "ChargePeriodStart": datetime(2024, 1, 1, tzinfo=UTC),
    "ChargePeriodEnd": datetime(2024, 1, 1, 1, tzinfo=UTC),
    "ChargeCategory": "Usage",
    "ChargeFrequency": "Usage-Based",
    "ChargeDescription": "compute",
    "ConsumedQuantity": Decimal("3"),
    "ConsumedUnit": "Hours",
    "PricingQuantity": Decimal("3"),
    "PricingUnit": "Hours",
    "ListUnitPrice": Decimal("0.6666666667"),
    "ContractedUnitPrice": Decimal("0.5"),
    "PricingCategory": "Standard",
    "PricingCurrency": "USD",
    "PricingCurrencyEffectiveCost": Decimal("1.5"),
    "PricingCurrencyListUnitPrice": Decimal("0.6666666667"),
    "PricingCurrencyContractedUnitPrice": Decimal("0.5"),
    "InvoiceId": "INV-1",
    "InvoiceIssuerName": "AWS",
    "ProviderName": "AWS",
    "PublisherName": "AWS",
    "RegionId": "us-east-1",
    "RegionName": "US East (N. Virginia)",
    "ResourceId": "i-1",
    "ResourceName": "web",
    "ResourceType": "Virtual Machine",
    "ServiceCategory": "Compute",
    "ServiceSubcategory": "Virtual Machines",
    "ServiceName": "EC2",
    "SkuId": "SKU1",
    "SkuMeter": "BoxUsage",
    "SkuPriceId": "SKU1.P1",
    "SkuPriceDetails": '{"size": "large"}',
    "SubAccountId": "456",
    "SubAccountName": "dev",
    "SubAccountType": "Account",
    "Tags": '{"team": "x"}',
}


def _table(*changes: dict[str, Any]) -> pa.Table:
    rows = [GOOD, *({**GOOD, **c} for c in changes)]
    return pa.Table.from_pylist(rows, schema=focus_schema())


def _failed(report: ValidationReport) -> dict[str, Finding]:
    return {f.rule_id: f for f in report.findings}


def test_a_conformant_table_has_no_findings() -> None:
    report = validate_table(_table())
    assert report.findings == ()
    assert report.ok
    assert len(report.checked) > 150
    assert report.skipped  # dynamic, MAY and composite rules


def test_missing_mandatory_column_is_a_presence_error() -> None:
    report = validate_table(_table().drop_columns(["BilledCost", "ChargeCategory"]))
    failed = _failed(report)
    presence = [f for f in failed.values() if f.check == "Presence"]
    assert {f.example for f in presence} == {"column BilledCost is missing", "column ChargeCategory is missing"}
    assert all(f.severity == "error" and f.rows_failing is None for f in presence)
    assert report.skipped["BilledCost-C-003-M"] == "column BilledCost absent"


def test_null_in_mandatory_column() -> None:
    failed = _failed(validate_table(_table({"ServiceCategory": None})))
    assert failed["ServiceCategory-C-002-M"].rows_failing == 1
    assert "row 1" in (failed["ServiceCategory-C-002-M"].example or "")


def test_allowed_values_of_enumerated_columns() -> None:
    report = validate_table(
        _table({"ChargeCategory": "Bogus"}, {"ChargeFrequency": "Usage-based"}, {"ServiceCategory": "Cats"})
    )
    failed = _failed(report)
    assert failed["ChargeCategory-C-003-M"].rows_failing == 1
    assert failed["ChargeFrequency-C-003-M"].rows_failing == 1
    assert failed["ServiceCategory-C-003-M"].rows_failing == 1
    assert not report.ok


def test_charge_class_is_correction_or_null() -> None:
    failed = _failed(validate_table(_table({"ChargeClass": "Refund"}, {"ChargeClass": "Correction"})))
    assert failed["ChargeClass-C-005-C"].rows_failing == 1
    assert "Refund" in (failed["ChargeClass-C-005-C"].example or "")


def test_commitment_discount_status_only_with_a_commitment_discount() -> None:
    with_id = {"CommitmentDiscountId": "ri-1", "CommitmentDiscountCategory": "Usage", "CommitmentDiscountType": "RI"}
    report = validate_table(
        _table(
            {"CommitmentDiscountStatus": "Used"},  # status without an id
            {**with_id, "CommitmentDiscountStatus": None},  # usage of a commitment without status
            {**with_id, "CommitmentDiscountStatus": "Used"},  # fine (FOCUS 1.2 values: Used, Unused)
        ),
        criteria=ALL,
    )
    failed = _failed(report)
    assert failed["CommitmentDiscountStatus-C-003-C"].rows_failing == 1
    assert failed["CommitmentDiscountStatus-C-004-C"].rows_failing == 1
    assert "CommitmentDiscountStatus-C-005-M" not in failed


def test_types_and_formats() -> None:
    table = _table().set_column(
        list(focus_schema().names).index("ChargePeriodStart"),
        "ChargePeriodStart",
        pa.array([datetime(2024, 1, 1)], pa.timestamp("us")),  # no time zone
    )
    failed = _failed(validate_table(table))
    assert failed["ChargePeriodStart-C-001-M"].rows_failing is None
    assert "UTC" in (failed["ChargePeriodStart-C-001-M"].example or "")
    failed = _failed(validate_table(_table({"Tags": "team=x"}, {"ConsumedUnit": "GB-Mo", "PricingUnit": "GB-Mo"})))
    assert failed["Tags-C-001-M"].rows_failing == 1
    assert failed["ConsumedUnit-C-003-O"].severity == "warning"


def test_csv_text_columns_are_judged_by_their_values() -> None:
    good = {k: (v.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(v, datetime) else v) for k, v in GOOD.items()}
    good = {k: (None if v is None else str(v)) for k, v in good.items()}
    bad = {**good, "BilledCost": "1,5", "ChargePeriodEnd": "2024-01-01 01:00:00", "BillingCurrency": "XXQ"}
    table = pa.Table.from_pylist([good, bad], schema=pa.schema([(k, pa.string()) for k in good]))
    failed = _failed(validate_table(table))
    assert failed["BilledCost-C-001-M"].rows_failing == 1
    assert failed["ChargePeriodEnd-C-002-M"].rows_failing == 1
    assert failed["BillingCurrency-C-006-M"].rows_failing == 1


def test_cross_column_product_and_distinct_counts() -> None:
    failed = _failed(
        validate_table(
            _table(
                {"ListCost": Decimal("5")},  # ListUnitPrice x PricingQuantity != ListCost
                {"ServiceName": "EC2", "ServiceCategory": "Storage"},  # two categories for one service
            )
        )
    )
    assert failed["ListCost-C-009-C"].rows_failing == 1
    assert failed["ServiceName-C-005-C"].rows_failing == 3


def test_model_and_currency_codes_are_packaged() -> None:
    model = load_model()
    assert model["Details"]["FOCUSVersion"] == "1.2"
    assert len(model["ModelRules"]) == 621
    assert {"USD", "EUR", "JPY"} <= currency_codes()


def test_parse_junit() -> None:
    xml = """<?xml version='1.0' encoding='utf-8'?>
<testsuites name="FOCUS Validations" tests="3" failures="1" errors="0" skipped="1">
  <testsuite name="BilledCost-C-000-BilledCost" time="0">
    <testcase name="BilledCost-C-001-M :: Type" time="0" />
    <testcase name="BilledCost-C-005-C :: Validation" time="0">
      <failure name="BilledCost-C-005-C" message="Validation check for BilledCost"
               type="AssertionError">Failed</failure>
    </testcase>
    <testcase name="BilledCost-C-004-M :: Validation" time="0"><skipped message="skip" /></testcase>
  </testsuite>
</testsuites>"""
    results = parse_junit(xml)
    assert results["BilledCost-C-001-M"].status == "passed"
    assert results["BilledCost-C-001-M"].check == "Type"
    assert results["BilledCost-C-005-C"].status == "failed"
    assert results["BilledCost-C-005-C"].message == "Validation check for BilledCost"
    assert results["BilledCost-C-004-M"].status == "skipped"


@pytest.mark.parametrize("criteria", [None, ALL])
def test_converted_aws_fixture_validates_quickly(criteria: str | None) -> None:
    path = Path(__file__).parents[2] / "fixtures" / "aws" / "cur_sample.csv"
    conv = open_conversion(path, source=str(path), file_id="t", block_size=1 << 20)
    batches = [r.batch for r, _ in conv.chunks() if r is not None]
    table = pa.Table.from_batches(batches)
    start = time.perf_counter()
    report = validate_table(table, criteria=criteria)
    assert time.perf_counter() - start < 3
    assert report.rows == 1281
    failed = report.failed_ids()
    # Mandatory columns are present and typed, money is decimal, timestamps UTC, Tags JSON.
    for rule in ("BilledCost-C-001-M", "ChargePeriodStart-C-001-M", "Tags-C-001-M", "ChargeCategory-C-003-M"):
        assert rule not in failed
