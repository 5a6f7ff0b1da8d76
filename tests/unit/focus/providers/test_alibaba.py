"""Alibaba Cloud bill details exported to OSS: alibaba-instance-detail and alibaba-billing-item-detail.

The golden fixtures (tests/fixtures/alibaba, built by make_fixtures.py) pin the expected rows;
these tests cover the header spellings (English, PascalCase, Chinese), detection against each
other and the other providers, the money columns, UTC+8 times, tags, zips and bad input.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cloudops.errors import BadDataError
from cloudops.focus.detect import detect_format
from cloudops.focus.rules import load_lookup
from cloudops.sources.converter import open_conversion
from cloudops.sources.readers import open_table

ALIBABA = Path(__file__).resolve().parents[3] / "fixtures" / "alibaba"
ITEMS = ALIBABA / "billing_item_detail.csv"
ITEMS_ZH = ALIBABA / "billing_item_detail_zh.csv"
ITEMS_ZIP = ALIBABA / "billing_item_detail_parts.zip"
INSTANCES = ALIBABA / "instance_detail.csv"
INSTANCES_PASCAL = ALIBABA / "instance_detail_pascal.csv"
MONEY = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")


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


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _write(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[r.get(h, "") for h in header] for r in rows])
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def items() -> list[dict[str, Any]]:
    return _convert(ITEMS)[1]


# --------------------------------------------------------------------------- money


def test_money_columns_follow_the_bill(items: list[dict[str, Any]]) -> None:
    _, source = _read(ITEMS)
    for row, src in zip(items, source, strict=True):
        pretax, gross, discount = (
            Decimal(src[c]) for c in ("Pretax Amount", "Pretax Gross Amount", "Invoice Discount")
        )
        assert row["BilledCost"] == row["EffectiveCost"] == pretax
        if src["Item"] == "Refund":  # a credit: every cost is the amount refunded
            assert row["ChargeCategory"] == "Credit"
            assert row["ListCost"] == row["ContractedCost"] == pretax
        else:
            assert row["ListCost"] == gross
            assert row["ContractedCost"] == gross - discount
        # Settlement (cash, vouchers, prepaid card, credit) adds up to the pretax amount and is kept.
        ext = json.loads(row["x_Extensions"])
        settled = sum(
            Decimal(ext[k])
            for k in ("x_CashPayment", "x_DeductedByCashCoupons", "x_DeductedByPrepaidCard", "x_OutstandingAmount")
        )
        assert settled == pretax


def test_bill_types_and_billing_methods(items: list[dict[str, Any]]) -> None:
    _, source = _read(ITEMS)
    want = {"PayAsYouGoBill": "Usage", "SubscriptionOrder": "Purchase", "Refund": "Credit", "Adjustment": "Adjustment"}
    for row, src in zip(items, source, strict=True):
        assert row["ChargeCategory"] == want[src["Item"]]
        assert row["ChargeFrequency"] == ("Usage-Based" if src["Item"] == "PayAsYouGoBill" else "One-Time")
        if row["ChargeCategory"] in ("Usage", "Purchase"):
            assert row["PricingCategory"] in ("Standard", "Committed")
            assert row["PricingQuantity"] == Decimal(src["Usage"])
            assert row["ListUnitPrice"] == Decimal(src["List Price"])
        else:
            assert row["PricingCategory"] is None
            assert row["PricingQuantity"] is None
        assert (row["ConsumedQuantity"] is not None) == (row["ChargeCategory"] == "Usage")


def test_usage_covered_by_a_resource_plan_is_committed(items: list[dict[str, Any]]) -> None:
    committed = [r for r in items if r["PricingCategory"] == "Committed"]
    assert [r["ChargeDescription"] for r in committed] == ["OSS Pay-As-You-Go - Storage Capacity"]
    assert committed[0]["BilledCost"] == 0


def test_times_are_beijing_time_converted_to_utc(items: list[dict[str, Any]]) -> None:
    first = items[0]
    assert first["ChargePeriodStart"].isoformat() == "2024-03-04T16:00:00+00:00"
    assert first["ChargePeriodEnd"].isoformat() == "2024-03-05T16:00:00+00:00"
    # The billing period is the nominal month, as for every provider.
    assert first["BillingPeriodStart"].isoformat() == "2024-03-01T00:00:00+00:00"
    assert first["BillingPeriodEnd"].isoformat() == "2024-04-01T00:00:00+00:00"


def test_tags_from_delimited_text(items: list[dict[str, Any]]) -> None:
    tags = [json.loads(r["Tags"]) if r["Tags"] else None for r in items]
    assert tags[0] == {"env": "prod", "team": "web", "url": "https://shop.example.com"}
    assert tags[11] == {"project": "shop", "critical": None}
    assert tags[4] is None


def test_regions_from_zone_or_displayed_name(items: list[dict[str, Any]]) -> None:
    by_desc = {r["ChargeDescription"]: r for r in items}
    ecs = by_desc["ECS Pay-As-You-Go - Instance Type"]
    assert (ecs["RegionId"], ecs["RegionName"], ecs["AvailabilityZone"]) == (
        "ap-southeast-1",
        "Singapore",
        "ap-southeast-1a",
    )
    oss = by_desc["OSS Pay-As-You-Go - Storage Capacity"]  # no zone: from "Singapore"
    assert (oss["RegionId"], oss["AvailabilityZone"]) == ("ap-southeast-1", None)
    cdn = by_desc["CDN Pay-As-You-Go - Traffic"]  # global: no region at all
    assert cdn["RegionId"] is None
    assert cdn["RegionName"] is None
    assert load_lookup("alibaba_regions.csv")["华东1（杭州）"] == "cn-hangzhou"


# --------------------------------------------------------------------------- header spellings


def test_chinese_header_gives_the_same_rows_in_cny(items: list[dict[str, Any]]) -> None:
    conv, zh, rejected = _convert(ITEMS_ZH)
    assert conv.rules.id == "alibaba-billing-item-detail"
    assert rejected == []
    assert conv.source_totals.keys() == {"CNY"}
    for a, b in zip(items, zh, strict=True):
        for col in (*MONEY, "ChargeCategory", "ChargePeriodStart", "RegionId", "Tags", "SkuId", "ServiceCategory"):
            assert a[col] == b[col], col
        assert b["BillingCurrency"] == "CNY"
        assert b["SubAccountId"] is None
        assert b["SubAccountName"] is None


def test_zip_of_parts_equals_the_single_file(items: list[dict[str, Any]]) -> None:
    conv, parts, _ = _convert(ITEMS_ZIP)
    assert conv.rules.id == "alibaba-billing-item-detail"
    with zipfile.ZipFile(ITEMS_ZIP) as zf:
        assert len(zf.namelist()) == 2
    strip = ("x_FileId", "x_BatchId", "x_RowNumber")
    assert [{k: v for k, v in r.items() if k not in strip} for r in parts] == [
        {k: v for k, v in r.items() if k not in strip} for r in items
    ]


def test_pascal_case_and_english_instance_headers_agree() -> None:
    conv_en, en, _ = _convert(INSTANCES)
    conv_pc, pc_rows, _ = _convert(INSTANCES_PASCAL)
    assert conv_en.rules.id == conv_pc.rules.id == "alibaba-instance-detail"
    # x_Extensions names the product column as the file does (ProductType vs Product Detail Code).
    strip = ("x_FileId", "x_BatchId", "x_Extensions")
    assert [{k: v for k, v in r.items() if k not in strip} for r in en] == [
        {k: v for k, v in r.items() if k not in strip} for r in pc_rows
    ]


def test_instance_level_sums_the_billing_items(items: list[dict[str, Any]]) -> None:
    conv, inst, _ = _convert(INSTANCES)
    assert conv.converted_totals == {"USD": sum((r["BilledCost"] for r in items), Decimal(0))}
    assert all(r["PricingQuantity"] is None and r["ListUnitPrice"] is None for r in inst)


def test_missing_currency_means_cny(tmp_path: Path) -> None:
    header, rows = _read(ITEMS)
    header = [h for h in header if h != "Currency"]
    conv, out, _ = _convert(_write(tmp_path / "cny.csv", header, rows[:2]))
    assert conv.source_totals.keys() == {"CNY"}
    assert {r["BillingCurrency"] for r in out} == {"CNY"}


# --------------------------------------------------------------------------- detection


def test_instance_and_billing_item_headers_are_told_apart() -> None:
    items_header, _ = _read(ITEMS)
    instance_header, _ = _read(INSTANCES)
    zh_header, _ = _read(ITEMS_ZH)
    assert detect_format(items_header).id == "alibaba-billing-item-detail"
    assert detect_format(zh_header).id == "alibaba-billing-item-detail"
    assert detect_format(instance_header).id == "alibaba-instance-detail"
    pascal = ["BillingCycle", "ProductCode", "SubscriptionType", "InstanceID", "PretaxGrossAmount", "PretaxAmount"]
    assert detect_format(pascal).id == "alibaba-instance-detail"
    assert detect_format([*pascal, "BillingItem", "ListPrice", "Usage"]).id == "alibaba-billing-item-detail"


def test_other_providers_headers_are_not_alibaba() -> None:
    fixtures = ALIBABA.parent
    checked = 0
    for path in sorted(fixtures.rglob("*")):
        if path.parent.name == "alibaba" or path.name.startswith("alibaba__"):  # alibaba/ and blank/alibaba__*
            continue
        if path.suffix not in (".csv", ".gz", ".parquet", ".zip", ".jsonl", ".json"):
            continue
        if path.name.endswith(".expected.json"):
            continue
        try:
            header = open_table(path).header
            rules = detect_format(header)
        except BadDataError:
            continue
        checked += 1
        assert rules.provider != "alibaba", path
    assert checked >= 5


def test_without_pretax_amount_it_is_no_known_format() -> None:
    header, _ = _read(ITEMS)
    with pytest.raises(BadDataError, match="unknown billing format"):
        detect_format([h for h in header if h != "Pretax Amount"])


# --------------------------------------------------------------------------- bad input


def test_bad_rows_are_rejected_with_reasons(tmp_path: Path) -> None:
    header, rows = _read(ITEMS)
    bad = [dict(rows[0]), dict(rows[6]), dict(rows[7]), dict(rows[11])]
    bad[1]["Item"] = "Mystery"
    bad[2]["Pretax Amount"] = "three"
    bad[3]["Usage End Time"] = "yesterday"
    conv, out, rejected = _convert(_write(tmp_path / "bad.csv", header, bad))
    assert len(out) == 1
    assert conv.rows_rejected == 3
    reasons = {r.row_number: r.reason for r in rejected}
    assert "ChargeCategory" in reasons[1]
    assert "BilledCost" in reasons[2]
    assert "ChargePeriodEnd" in reasons[3]
    for cur, total in conv.source_totals.items():
        assert total == conv.converted_totals.get(cur, Decimal(0)) + conv.rejected_totals.get(cur, Decimal(0))


def test_zip_part_with_another_header_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bill.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.csv", ITEMS.read_text(encoding="utf-8"))
        zf.writestr("b.csv", INSTANCES.read_text(encoding="utf-8"))
    with pytest.raises(BadDataError, match="different header"):
        _convert(path)
