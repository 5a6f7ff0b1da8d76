"""AWS formats: legacy CUR (aws-cur), CUR 2.0 (aws-cur2) and Data Exports FOCUS (aws-focus).

Detection against each other and the other providers' headers, amortised EffectiveCost per line item
type, CUR 2.0 Parquet and CSV giving the same rows, and bad rows. The golden fixtures in
tests/fixtures/aws pin the full expected rows.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import io
import json
import re
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cloudops.errors import BadDataError
from cloudops.focus.convert import convert_batch
from cloudops.focus.detect import detect_format
from cloudops.focus.rules import FormatRules, load_all_rules, load_lookup
from cloudops.focus.validate import load_model
from cloudops.sources.converter import open_conversion

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
AWS = FIXTURES / "aws"
FOCUS_CORE = ["BilledCost", "EffectiveCost", "ChargeCategory", "ChargePeriodStart", "BillingPeriodStart"]


def _rules(rid: str) -> FormatRules:
    (rules,) = [r for r in load_all_rules() if r.id == rid]
    return rules


def _load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, AWS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _convert(path: Path) -> tuple[Any, list[dict[str, Any]], list[Any]]:
    conv = open_conversion(path, source=str(path), file_id="t", block_size=1 << 16)
    rows: list[dict[str, Any]] = []
    rejected: list[Any] = []
    for result, malformed in conv.chunks():
        rejected.extend(malformed)
        if result is not None:
            rejected.extend(result.rejected)
            rows.extend(result.batch.to_pylist())
    return conv, rows, rejected


def _batch(rows: list[dict[str, str | None]]) -> pa.RecordBatch:
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    return pa.RecordBatch.from_pydict({c: pa.array([r.get(c) for r in rows], pa.string()) for c in cols})


# --- detection ------------------------------------------------------------------------------------


def test_cur2_parquet_header_is_cur2() -> None:
    header = pq.ParquetFile(AWS / "cur2_sample.parquet").schema_arrow.names
    assert len(header) > 100
    assert detect_format(header).id == "aws-cur2"


def test_cur2_csv_header_is_cur2() -> None:
    with gzip.open(AWS / "cur2_sample_csv.csv.gz", "rt", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert detect_format(header).id == "aws-cur2"


def test_legacy_cur_in_athena_parquet_names_is_read_by_cur2() -> None:
    # Legacy CUR delivered as Parquet: snake_case names, product_* and resource_tags_* flattened.
    header = [
        "identity_line_item_id",
        "bill_payer_account_id",
        "line_item_line_item_type",
        "line_item_usage_start_date",
        "line_item_unblended_cost",
        "product_product_name",
        "product_region",
        "resource_tags_user_team",
    ]
    assert detect_format(header).id == "aws-cur2"


def test_legacy_and_cur2_headers_do_not_cross() -> None:
    legacy = ["lineItem/LineItemType", "lineItem/UnblendedCost", "bill/PayerAccountId", "lineItem/UsageStartDate"]
    cur2 = [
        "line_item_line_item_type",
        "line_item_unblended_cost",
        "bill_payer_account_id",
        "line_item_usage_start_date",
    ]
    assert detect_format(legacy).id == "aws-cur"
    assert detect_format(cur2).id == "aws-cur2"
    assert detect_format(legacy + cur2).id in ("aws-cur", "aws-cur2")  # both complete: either, never another
    with pytest.raises(BadDataError):
        detect_format(cur2[:3] + legacy[:3])


@pytest.mark.parametrize("extra", [["x_ServiceCode", "x_Operation"], ["x_ServiceCode", "x_Operation", "x_UsageType"]])
def test_aws_focus_needs_its_x_columns(extra: list[str]) -> None:
    header = [*FOCUS_CORE, "BillingCurrency", *extra]
    assert detect_format(header).id == "aws-focus"


def test_aws_focus_fixture_headers() -> None:
    assert detect_format(pq.ParquetFile(AWS / "aws_focus12.parquet").schema_arrow.names).id == "aws-focus"
    with gzip.open(AWS / "aws_focus10.csv.gz", "rt", encoding="utf-8") as fh:
        assert detect_format(next(csv.reader(fh))).id == "aws-focus"


def test_focus_without_aws_columns_is_generic_focus() -> None:
    assert detect_format([*FOCUS_CORE, "x_ServiceCode"]).id == "focus-1.0"  # one AWS column is not enough
    assert detect_format([*FOCUS_CORE, "x_Operation", "InvoiceId"]).id == "focus-1.2"


def test_other_providers_focus_exports_are_not_aws_focus() -> None:
    azure = [*FOCUS_CORE, "BillingCurrency", "x_BillingProfileId", "x_SkuMeterCategory"]
    oci = [*FOCUS_CORE, "BillingCurrency", "oci_ReferenceNumber", "oci_CompartmentId"]
    assert detect_format(azure).id != "aws-focus"
    assert detect_format(oci).id == "oci-focus"


def test_aws_headers_are_not_taken_by_other_formats(cur_header: list[str]) -> None:
    assert detect_format(cur_header).id == "aws-cur"
    assert detect_format(pq.ParquetFile(AWS / "cur2_sample.parquet").schema_arrow.names).provider == "aws"


# --- amortised EffectiveCost (legacy CUR; CUR 2.0 uses the same rule) -------------------------------

_LEGACY_BASE = {
    "bill/PayerAccountId": "111122223333",
    "bill/InvoicingEntity": "Amazon Web Services, Inc.",
    "bill/BillingEntity": "AWS",
    "bill/BillingPeriodStartDate": "2025-04-01T00:00:00Z",
    "bill/BillingPeriodEndDate": "2025-05-01T00:00:00Z",
    "lineItem/UsageStartDate": "2025-04-01T00:00:00Z",
    "lineItem/UsageEndDate": "2025-05-01T00:00:00Z",
    "lineItem/ProductCode": "AmazonEC2",
    "lineItem/CurrencyCode": "USD",
    "product/ProductName": "Amazon Elastic Compute Cloud",
}
RI = "arn:aws:ec2:us-east-1:111122223333:reserved-instances/ri-1"


@pytest.mark.parametrize(
    ("row", "effective", "unused"),
    [
        (
            {
                "lineItem/LineItemType": "RIFee",
                "lineItem/UnblendedCost": "22.32",
                "reservation/ReservationARN": RI,
                "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod": "1.55",
                "reservation/UnusedRecurringFee": "1.55",
            },
            Decimal("0"),
            Decimal("3.10"),
        ),
        (
            {
                "lineItem/LineItemType": "RIFee",
                "lineItem/UnblendedCost": "10",
                "reservation/ReservationARN": RI,
                "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod": "0",
                "reservation/UnusedRecurringFee": "0",
            },
            Decimal("0"),
            None,  # fully used reservation: nothing left over, no unused row
        ),
        (
            {
                "lineItem/LineItemType": "SavingsPlanRecurringFee",
                "lineItem/UnblendedCost": "73",
                "savingsPlan/SavingsPlanARN": "arn:aws:savingsplans::111122223333:savingsplan/sp-1",
                "savingsPlan/TotalCommitmentToDate": "73",
                "savingsPlan/UsedCommitment": "70.5",
            },
            Decimal("0"),
            Decimal("2.5"),
        ),
        (
            {"lineItem/LineItemType": "Fee", "lineItem/UnblendedCost": "270", "reservation/ReservationARN": RI},
            Decimal("0"),
            None,
        ),
        ({"lineItem/LineItemType": "Fee", "lineItem/UnblendedCost": "100"}, Decimal("100"), None),
        ({"lineItem/LineItemType": "SavingsPlanUpfrontFee", "lineItem/UnblendedCost": "365"}, Decimal("0"), None),
        ({"lineItem/LineItemType": "Usage", "lineItem/UnblendedCost": "0.104"}, Decimal("0.104"), None),
    ],
)
def test_legacy_effective_cost(row: dict[str, str], effective: Decimal, unused: Decimal | None) -> None:
    """Strict FOCUS: a recurring commitment fee at EffectiveCost 0, its unused part as its own Usage row."""
    res = convert_batch(_batch([{**_LEGACY_BASE, **row}]), _rules("aws-cur"), file_id="f", batch_id="b", row_offset=0)
    assert res.rejected == []
    out = res.batch.to_pylist()
    assert out[0]["EffectiveCost"] == effective
    assert out[0]["PricingCurrencyEffectiveCost"] == effective
    assert out[0]["BilledCost"] == Decimal(row["lineItem/UnblendedCost"])
    assert len(out) == (1 if unused is None else 2)
    if unused is not None:
        extra = out[1]
        assert (extra["ChargeCategory"], extra["ChargeFrequency"], extra["CommitmentDiscountStatus"]) == (
            "Usage",
            "Usage-Based",
            "Unused",
        )
        assert (extra["BilledCost"], extra["ListCost"], extra["ContractedCost"]) == (0, 0, 0)
        assert extra["EffectiveCost"] == extra["PricingCurrencyEffectiveCost"] == unused
        assert extra["CommitmentDiscountId"] == out[0]["CommitmentDiscountId"] is not None
        assert extra["x_RowNumber"] == out[0]["x_RowNumber"]
        assert extra["ConsumedQuantity"] is None
    # Billed totals (and so reconciliation) are those of the source row alone.
    assert sum((r["BilledCost"] for r in out), Decimal(0)) == Decimal(row["lineItem/UnblendedCost"])


def test_unused_commitment_rows_carry_quantity_and_unit() -> None:
    rows = [
        {
            **_LEGACY_BASE,
            "lineItem/LineItemType": "RIFee",
            "lineItem/UnblendedCost": "22.32",
            "lineItem/UsageAmount": "720",
            "pricing/unit": "Hrs",
            "reservation/ReservationARN": RI,
            "reservation/UnusedQuantity": "50",
            "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod": "1.55",
            "reservation/UnusedRecurringFee": "1.55",
        },
        {
            **_LEGACY_BASE,
            "lineItem/LineItemType": "SavingsPlanRecurringFee",
            "lineItem/UnblendedCost": "73",
            "savingsPlan/SavingsPlanARN": "arn:aws:savingsplans::111122223333:savingsplan/sp-1",
            "savingsPlan/TotalCommitmentToDate": "73",
            "savingsPlan/UsedCommitment": "70.5",
        },
    ]
    res = convert_batch(_batch(rows), _rules("aws-cur"), file_id="f", batch_id="b", row_offset=0)
    out = res.batch.to_pylist()
    assert [r["CommitmentDiscountStatus"] for r in out] == [None, None, "Unused", "Unused"]
    ri, sp = out[2], out[3]
    assert (ri["PricingQuantity"], ri["PricingUnit"], ri["CommitmentDiscountType"]) == (
        50,
        "Hours",
        "Reserved Instance",
    )
    assert (sp["PricingQuantity"], sp["PricingUnit"], sp["CommitmentDiscountType"]) == (
        Decimal("2.5"),
        "USD",
        "Savings Plan",
    )
    assert (ri["ListUnitPrice"], ri["ContractedUnitPrice"], ri["PricingCategory"]) == (None, None, "Committed")
    assert [r["x_RowNumber"] for r in out] == [0, 1, 0, 1]
    assert res.source_totals == {"USD": Decimal("95.32")}
    assert sum((r["BilledCost"] for r in out), Decimal(0)) == Decimal("95.32")
    assert sum((r["EffectiveCost"] for r in out), Decimal(0)) == Decimal("5.60")


def test_ri_upfront_fee_is_a_commitment_purchase_but_support_fee_is_not() -> None:
    rows = [
        {
            **_LEGACY_BASE,
            "lineItem/LineItemType": "Fee",
            "lineItem/UnblendedCost": "270",
            "reservation/ReservationARN": RI,
        },
        {**_LEGACY_BASE, "lineItem/LineItemType": "Fee", "lineItem/UnblendedCost": "100"},
    ]
    out = convert_batch(_batch(rows), _rules("aws-cur"), file_id="f", batch_id="b", row_offset=0).batch.to_pylist()
    assert [(r["ChargeCategory"], r["ChargeFrequency"]) for r in out] == [("Purchase", "One-Time")] * 2
    assert [r["CommitmentDiscountId"] for r in out] == [RI, None]
    assert [r["CommitmentDiscountType"] for r in out] == ["Reserved Instance", None]
    assert [r["CommitmentDiscountCategory"] for r in out] == ["Usage", None]
    assert [r["PricingCategory"] for r in out] == ["Standard", "Standard"]


def test_ri_fee_without_unused_amounts_is_rejected_not_zeroed() -> None:
    row = {
        **_LEGACY_BASE,
        "lineItem/LineItemType": "RIFee",
        "lineItem/UnblendedCost": "5",
        "reservation/ReservationARN": RI,
    }
    res = convert_batch(_batch([row]), _rules("aws-cur"), file_id="f", batch_id="b", row_offset=0)
    assert res.batch.num_rows == 0
    # The fee row alone would convert (EffectiveCost 0), but its unused amount is unknown: rejected whole.
    assert [r.reason for r in res.rejected] == [
        "unused commitment: EffectiveCost: mandatory value missing (rule gave no value)"
    ]
    assert res.rejected_totals == {"USD": Decimal(5)}


def test_legacy_and_cur2_give_the_same_focus_rows() -> None:
    _, legacy, _ = _convert(AWS / "cur_synthetic.csv")
    _, cur2, _ = _convert(AWS / "cur2_sample.parquet")
    assert len(legacy) == len(cur2) == 17  # 15 line items + the unused parts of the RI and Savings Plan fees
    same = ["BilledCost", "EffectiveCost", "ListCost", "ChargeCategory", "ChargeClass", "ChargeFrequency"]
    same += ["PricingCategory", "CommitmentDiscountId", "CommitmentDiscountStatus", "ServiceName", "PublisherName"]
    same += ["ChargePeriodStart", "BillingPeriodStart", "RegionId", "RegionName", "SkuMeter", "ServiceSubcategory"]
    same += ["PricingQuantity", "PricingUnit", "ConsumedUnit", "PricingCurrency", "PricingCurrencyEffectiveCost"]
    for a, b in zip(legacy, cur2, strict=True):
        assert {c: a[c] for c in same} == {c: b[c] for c in same}
    # Tags: legacy user:/aws: columns and CUR 2.0 user_/aws_ map keys name the same tags.
    assert json.loads(legacy[0]["Tags"]) == {"team": "web", "env": "prod", "aws:createdBy": "IAMUser:alice"}
    assert json.loads(cur2[0]["Tags"]) == {"team": "web", "env": "prod", "aws:created_by": "IAMUser:alice"}


def test_legacy_synthetic_effective_cost_total_is_amortised() -> None:
    _, rows, _ = _convert(AWS / "cur_synthetic.csv")
    billed = sum((r["BilledCost"] for r in rows), Decimal(0))
    effective = sum((r["EffectiveCost"] for r in rows), Decimal(0))
    assert billed == Decimal("855.79")
    # Per row, amortised minus billed: RI usage +0.062, RI fee -22.32 and its unused row +3.10, RI upfront
    # -270, SP usage 0.119 - 0.17, negation +0.17, SP fee -73 and its unused row +2.50, SP upfront -365;
    # every other row is unchanged.
    deltas = [Decimal("0.062"), Decimal("3.10") - Decimal("22.32"), Decimal(-270), Decimal("0.119") - Decimal("0.17")]
    deltas += [Decimal("0.17"), Decimal("2.50") - 73, Decimal(-365)]
    assert effective == billed + sum(deltas) == Decimal("131.251")


# --- CUR 2.0 ------------------------------------------------------------------------------------------


def test_cur2_parquet_and_csv_convert_identically() -> None:
    _, parquet, _ = _convert(AWS / "cur2_sample.parquet")
    _, csv_rows, _ = _convert(AWS / "cur2_sample_csv.csv.gz")
    assert len(parquet) == len(csv_rows) == 17
    skip = {"x_FileId", "x_BatchId", "x_Extensions"}
    for a, b in zip(parquet, csv_rows, strict=True):
        assert {k: v for k, v in a.items() if k not in skip} == {k: v for k, v in b.items() if k not in skip}
        # Source columns kept verbatim in x_Extensions: typed Parquet numbers and CSV text may spell
        # the same number differently ("50" / "50.0"), so numbers compare by value.
        ext_a, ext_b = json.loads(a["x_Extensions"]), json.loads(b["x_Extensions"])
        assert ext_a.keys() == ext_b.keys()
        for key in ext_a:
            if ext_a[key] != ext_b[key]:
                assert Decimal(ext_a[key]) == Decimal(ext_b[key]), key


def test_cur2_csv_bad_json_rejects_only_that_row(tmp_path: Path) -> None:
    with gzip.open(AWS / "cur2_sample_csv.csv.gz", "rt", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    rows[2][header.index("product")] = "{not json"
    rows[3][header.index("line_item_unblended_cost")] = "abc"
    out = tmp_path / "cur2.csv"
    with out.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    conv, converted, rejected = _convert(out)
    assert conv.rules.id == "aws-cur2"
    assert len(converted) == 15  # 13 line items + 2 unused-commitment rows
    assert {r.row_number: r.reason for r in rejected} == {
        1: "product: not a JSON object",
        2: "BilledCost: not a valid decimal value in line_item_unblended_cost: 'abc'",
    }
    for cur, total in conv.source_totals.items():
        assert total == conv.converted_totals.get(cur, 0) + conv.rejected_totals.get(cur, 0)


def test_cur2_missing_map_columns_still_convert() -> None:
    row = {
        "bill_payer_account_id": "111122223333",
        "bill_invoicing_entity": "Amazon Web Services, Inc.",
        "bill_billing_entity": "AWS",
        "bill_billing_period_start_date": "2025-04-01T00:00:00Z",
        "bill_billing_period_end_date": "2025-05-01T00:00:00Z",
        "line_item_line_item_type": "Usage",
        "line_item_usage_start_date": "2025-04-01T00:00:00Z",
        "line_item_usage_end_date": "2025-04-01T01:00:00Z",
        "line_item_product_code": "AmazonS3",
        "line_item_currency_code": "USD",
        "line_item_unblended_cost": "1.25",
        "resource_tags_user_cost_center": "42",
    }
    res = convert_batch(_batch([row]), _rules("aws-cur2"), file_id="f", batch_id="b", row_offset=0)
    out = res.batch.to_pylist()[0]
    assert res.rejected == []
    assert out["ServiceName"] == "AmazonS3"  # no product map: the product code
    assert out["ServiceCategory"] == "Storage"
    assert json.loads(out["Tags"]) == {"cost_center": "42"}


def test_make_cur2_reproduces_the_committed_fixtures(tmp_path: Path) -> None:
    _load_script("make_cur2").main(tmp_path)
    assert pq.read_table(tmp_path / "cur2_sample.parquet").equals(pq.read_table(AWS / "cur2_sample.parquet"))
    assert gzip.decompress((tmp_path / "cur2_sample_csv.csv.gz").read_bytes()) == gzip.decompress(
        (AWS / "cur2_sample_csv.csv.gz").read_bytes()
    )
    assert (tmp_path / "cur_synthetic.csv").read_bytes() == (AWS / "cur_synthetic.csv").read_bytes()


# --- AWS Data Exports FOCUS ----------------------------------------------------------------------------


def test_make_aws_focus_reproduces_the_committed_fixtures(tmp_path: Path) -> None:
    _load_script("make_aws_focus").main(tmp_path)
    assert pq.read_table(tmp_path / "aws_focus12.parquet").equals(pq.read_table(AWS / "aws_focus12.parquet"))
    assert gzip.decompress((tmp_path / "aws_focus10.csv.gz").read_bytes()) == gzip.decompress(
        (AWS / "aws_focus10.csv.gz").read_bytes()
    )


def test_aws_focus_10_and_12_agree_on_shared_columns() -> None:
    _, v12, _ = _convert(AWS / "aws_focus12.parquet")
    _, v10, rejected = _convert(AWS / "aws_focus10.csv.gz")
    assert [r.row_number for r in rejected] == [9]
    shared = ["BilledCost", "EffectiveCost", "ChargeCategory", "ChargeClass", "PricingCategory", "SkuMeter"]
    shared += ["CommitmentDiscountId", "CommitmentDiscountStatus", "PublisherName", "x_Provider"]
    for a, b in zip(v12, v10, strict=True):
        assert {c: a[c] for c in shared} == {c: b[c] for c in shared}
    # The maps AWS writes as JSON text in CSV come out as in Parquet.
    assert json.loads(v12[0]["x_Extensions"])["x_Discounts"] == json.loads(v10[0]["x_Extensions"])["x_Discounts"]
    assert json.loads(v12[0]["Tags"]) == json.loads(v10[0]["Tags"])


def test_aws_focus_fills_documented_gaps_with_aws() -> None:
    rules = _rules("aws-focus")
    row = {
        "BilledCost": "1",
        "EffectiveCost": "1",
        "ListCost": "1",
        "ContractedCost": "1",
        "BillingAccountId": "111122223333",
        "BillingCurrency": "USD",
        "BillingPeriodStart": "2025-04-01T00:00:00.000Z",
        "BillingPeriodEnd": "2025-05-01T00:00:00.000Z",
        "ChargePeriodStart": "2025-04-01T00:00:00.000Z",
        "ChargePeriodEnd": "2025-04-02T00:00:00.000Z",
        "ChargeCategory": "usage",
        "ChargeFrequency": "Usage-based",
        "ServiceCategory": "Compute",
        "ServiceName": "Amazon EC2",
        "SkuId": "SKUT3MICRO",
        "InvoiceIssuerName": None,
        "ProviderName": None,
        "PublisherName": None,
        "x_ServiceCode": "AmazonEC2",
        "x_Operation": "RunInstances",
        "x_UsageType": "BoxUsage:t3.micro",
    }
    res = convert_batch(_batch([row]), rules, file_id="f", batch_id="b", row_offset=0)
    assert res.rejected == []
    out = res.batch.to_pylist()[0]
    assert (out["InvoiceIssuerName"], out["ProviderName"], out["PublisherName"]) == ("AWS", "AWS", "AWS")
    assert (out["ChargeCategory"], out["ChargeFrequency"], out["SkuMeter"]) == (
        "Usage",
        "Usage-Based",
        "BoxUsage:t3.micro",
    )
    assert json.loads(out["x_Extensions"]) == {
        "x_ServiceCode": "AmazonEC2",
        "x_Operation": "RunInstances",
        "x_UsageType": "BoxUsage:t3.micro",
    }


def test_aws_focus_missing_mandatory_column_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "focus.csv"
    path.write_text(
        ",".join([*FOCUS_CORE, "BillingCurrency", "x_ServiceCode", "x_Operation"])
        + "\n1,1,Usage,2025-04-01,2025-04-01,USD,A,B\n"
    )
    with pytest.raises(BadDataError, match="missing required columns for aws-focus: BillingAccountId"):
        open_conversion(path, source="focus.csv", file_id="f", block_size=1 << 16)


def test_cur_sample_totals_unchanged(cur_sample_path: Path) -> None:
    conv, rows, rejected = _convert(cur_sample_path)
    assert rejected == []
    assert conv.converted_totals == {"USD": Decimal("1.6823086974")}
    assert sum((r["EffectiveCost"] for r in rows), Decimal(0)) == Decimal("1.6823086974")  # only Usage and Tax


def test_csv_reading_io_is_text() -> None:
    # The CUR 2.0 CSV fixture really holds JSON text in its map columns.
    with gzip.open(AWS / "cur2_sample_csv.csv.gz", "rt", encoding="utf-8") as fh:
        first = next(csv.DictReader(io.StringIO(fh.read())))
    assert json.loads(first["product"])["product_name"] == "Amazon Elastic Compute Cloud"
    assert json.loads(first["resource_tags"])["user_team"] == "web"


# --- lookup tables (ServiceSubcategory, units, region names) -------------------------------------------

# FOCUS UnitFormat (FOCUS 1.2 "Unit Format"): a data size or time unit, a count unit of words, or the
# combinations <unit>-<plural time>, <unit>/<singular time>, <quantity> <unit>, <unit>/<interval> <plural time>.
_SIZES = "b|Kb|Mb|Gb|Tb|Pb|Eb|B|KB|MB|GB|TB|PB|EB|Kib|Mib|Gib|Tib|Pib|Eib|KiB|MiB|GiB|TiB|PiB|EiB"
_TIME_1 = "Year|Month|Day|Hour|Minute|Second"
_TIME_N = "Years|Months|Days|Hours|Minutes|Seconds"
_COUNT = r"[A-Za-z][A-Za-z0-9]*(?:\s+[A-Za-z][A-Za-z0-9]*)*"
UNIT_FORMAT = re.compile(
    rf"^(?:(?:{_SIZES}|{_TIME_1}|{_TIME_N}|{_COUNT})"
    rf"|(?:{_SIZES}|{_COUNT})-(?:{_TIME_N})"
    rf"|(?:{_SIZES}|{_COUNT}|{_TIME_N})/(?:{_TIME_1})"
    rf"|[0-9]+ (?:{_SIZES}|{_TIME_1}|{_TIME_N}|{_COUNT})"
    rf"|(?:{_SIZES}|{_COUNT}|{_TIME_N})/[0-9]+ (?:{_TIME_N}))$"
)


def test_service_subcategories_have_the_categories_parent() -> None:
    model = load_model()["ModelRules"]
    parent = {
        item["Items"][0]["Value"]: item["Items"][1]["Value"]
        for item in model["ServiceSubcategory-C-004-M"]["ValidationCriteria"]["Requirement"]["Items"]
    }
    categories = load_lookup("aws_service_categories.csv")
    subcategories = load_lookup("aws_service_subcategories.csv")
    assert categories.keys() == subcategories.keys()
    for code, sub in subcategories.items():
        assert parent[sub] == categories[code], code
    assert parent["Other (Other)"] == "Other"  # the default for product codes in neither table


@pytest.mark.parametrize("table", ["aws_units.csv", "oci_units.csv", "gcp_units.csv", "alibaba_units.csv"])
def test_unit_tables_give_focus_unit_format(table: str) -> None:
    units = load_lookup(table)
    assert units
    bad = {k: v for k, v in units.items() if not UNIT_FORMAT.match(v)}
    assert bad == {}


def test_aws_units_and_region_names() -> None:
    units = load_lookup("aws_units.csv")
    assert (units["Hrs"], units["GB-Mo"], units["Lambda-GB-Second"], units["Obj-Month"]) == (
        "Hours",
        "GB-Months",
        "GB-Seconds",
        "Object-Months",
    )
    names = load_lookup("aws_region_names.csv")
    assert (names["us-east-1"], names["ca-central-1"], names["eu-west-1"]) == (
        "US East (N. Virginia)",
        "Canada (Central)",
        "EU (Ireland)",
    )


def test_cur_sample_tax_rows_have_no_pricing_quantity_and_regions_are_named(cur_sample_path: Path) -> None:
    _, rows, _ = _convert(cur_sample_path)
    tax = [r for r in rows if r["ChargeCategory"] == "Tax"]
    assert tax
    assert {(r["PricingQuantity"], r["PricingUnit"]) for r in tax} == {(None, None)}
    assert [r for r in rows if r["RegionId"] is not None and r["RegionName"] is None] == []
    assert {r["PricingCurrency"] for r in rows} == {"USD"}
    assert all(r["PricingCurrencyEffectiveCost"] == r["EffectiveCost"] for r in rows)
    assert all(r["ServiceSubcategory"] is not None for r in rows)
    by_name: dict[str, set[str]] = {}
    for r in rows:
        by_name.setdefault(r["ServiceName"], set()).add(r["ServiceSubcategory"])
    assert {k: v for k, v in by_name.items() if len(v) > 1} == {}  # one subcategory per service name
