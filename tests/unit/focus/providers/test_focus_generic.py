"""Generic FOCUS files of any provider: focus-1.0, focus-1.1, focus-1.2.

Version detection, the upgrade to cloudops' FOCUS 1.2 model (pre-1.0 names, case variants of allowed
values, NULL literals), x_Provider from ProviderName, x_ columns kept, and bad input. The golden fixtures
in tests/fixtures/focus pin the FOCUS 1.0 sample and the spec's worked examples.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cloudops.errors import BadDataError
from cloudops.focus.convert import convert_batch
from cloudops.focus.detect import detect_format
from cloudops.focus.rules import FormatRules, load_all_rules
from cloudops.sources.converter import open_conversion

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
FOCUS = FIXTURES / "focus"
SPEC = FOCUS / "spec_v1.2"
GENERIC = ("focus-1.0", "focus-1.1", "focus-1.2")
CORE = ["BilledCost", "EffectiveCost", "ChargeCategory", "ChargePeriodStart", "BillingPeriodStart"]

MINIMAL: dict[str, str | None] = {
    "BilledCost": "1.5",
    "EffectiveCost": "1.5",
    "ListCost": "2",
    "ContractedCost": "1.5",
    "BillingAccountId": "acct",
    "BillingCurrency": "USD",
    "BillingPeriodStart": "2024-09-01T00:00:00Z",
    "BillingPeriodEnd": "2024-10-01T00:00:00Z",
    "ChargePeriodStart": "2024-09-04 04:00:00",
    "ChargePeriodEnd": "2024-09-04 05:00:00",
    "ChargeCategory": "Usage",
    "InvoiceIssuerName": "Issuer",
    "ProviderName": "AWS",
    "PublisherName": "Publisher",
    "ServiceCategory": "Compute",
    "ServiceName": "Service",
}


def _rules(rid: str) -> FormatRules:
    (rules,) = [r for r in load_all_rules() if r.id == rid]
    return rules


def _convert_rows(rid: str, rows: list[dict[str, str | None]]) -> Any:
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    batch = pa.RecordBatch.from_pydict({c: pa.array([r.get(c) for r in rows], pa.string()) for c in cols})
    return convert_batch(batch, _rules(rid), file_id="f", batch_id="b", row_offset=0)


# --- detection ----------------------------------------------------------------------------------------


def test_focus_sample_header_is_focus_10() -> None:
    with (FOCUS / "focus10_sample.csv").open(encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert detect_format(header).id == "focus-1.0"


@pytest.mark.parametrize(
    ("extra", "version"),
    [
        ([], "focus-1.0"),
        (["ChargeClass", "CommitmentDiscountStatus"], "focus-1.0"),  # both already in 1.0
        (["ServiceSubcategory"], "focus-1.1"),
        (["CommitmentDiscountQuantity", "CommitmentDiscountUnit"], "focus-1.1"),
        (["SkuPriceDetails", "CapacityReservationId"], "focus-1.1"),
        (["InvoiceId"], "focus-1.2"),
        (["PricingCurrency", "ServiceSubcategory"], "focus-1.2"),
        (["BillingAccountType", "SubAccountType"], "focus-1.2"),
        (["ServiceSubCategory"], "focus-1.1"),  # alias spelling counts too
    ],
)
def test_version_from_columns(extra: list[str], version: str) -> None:
    assert detect_format([*CORE, *extra]).id == version


def test_spec_example_headers() -> None:
    for path, version in [
        (FOCUS / "spec12_commitment_flexibility.csv", "focus-1.1"),
        (FOCUS / "spec12_virtual_currency.csv", "focus-1.2"),
        (FOCUS / "spec12_saas_spend_agreements.csv", "focus-1.1"),
    ]:
        with path.open(encoding="utf-8-sig") as fh:
            assert detect_format(next(csv.reader(fh))).id == version, path.name


def test_provider_focus_exports_win_over_generic() -> None:
    assert detect_format([*CORE, "x_ServiceCode", "x_Operation"]).id == "aws-focus"
    assert detect_format([*CORE, "BillingCurrency", "oci_ReferenceNumber", "oci_CompartmentId"]).id == "oci-focus"


def test_generic_focus_does_not_take_provider_native_formats(cur_header: list[str]) -> None:
    native = [
        cur_header,
        ["line_item_line_item_type", "line_item_unblended_cost", "bill_payer_account_id", "line_item_usage_start_date"],
        ["BillingAccountId", "SubscriptionId", "Date", "CostInBillingCurrency", "ChargeType"],  # Azure EA
    ]
    for header in native:
        assert detect_format(header).id not in GENERIC


def test_partial_focus_header_is_unknown() -> None:
    with pytest.raises(BadDataError, match="unknown billing format"):
        detect_format(["BilledCost", "ChargeCategory", "BillingPeriodStart"])


# --- bad input -----------------------------------------------------------------------------------------


def test_verbatim_spec_example_lacks_mandatory_columns() -> None:
    path = SPEC / "commitment_discount_scenarios__commitment_discount_usage_scenario_3.csv"
    with pytest.raises(BadDataError) as info:
        open_conversion(path, source="scenario_3.csv", file_id="f", block_size=1 << 16)
    assert str(info.value) == (
        "scenario_3.csv: missing required columns for focus-1.1: BillingAccountId, BillingCurrency, ContractedCost, "
        "InvoiceIssuerName, ListCost, ProviderName, PublisherName, ServiceCategory, ServiceName"
    )


def test_bad_rows_are_rejected_with_reasons() -> None:
    rows = [
        MINIMAL,
        {**MINIMAL, "ChargeCategory": "Discount"},
        {**MINIMAL, "BilledCost": "12,50"},
        {**MINIMAL, "ChargePeriodStart": "2023-02-01T30:00:00Z"},
        {**MINIMAL, "ServiceName": "NULL"},
    ]
    res = _convert_rows("focus-1.0", rows)
    assert res.batch.num_rows == 1
    reasons = {r.row_number: r.reason for r in res.rejected}
    assert reasons == {
        1: "ChargeCategory: mandatory value missing (rule gave no value)",
        2: "BilledCost: not a valid decimal value in BilledCost: '12,50'",
        3: "ChargePeriodStart: not a valid datetime value in ChargePeriodStart: '2023-02-01T30:00:00Z'",
        4: "ServiceName: mandatory value missing (from ServiceName)",
    }
    assert res.source_totals == {"USD": Decimal(6)}  # "12,50" cannot be read, so it is in neither total
    assert res.rejected_totals == {"USD": Decimal("4.5")}


# --- upgrade to the model ----------------------------------------------------------------------------------


def test_null_literals_and_case_variants() -> None:
    row = {
        **MINIMAL,
        "ChargeCategory": "usage",
        "ChargeClass": "NULL",
        "ChargeFrequency": "Usage-based",
        "PricingCategory": "STANDARD",
        "CommitmentDiscountStatus": "null",
        "CommitmentDiscountCategory": "spend",
        "Tags": "NULL",
        "RegionId": "",
    }
    out = _convert_rows("focus-1.1", [row]).batch.to_pylist()[0]
    assert out["ChargeCategory"] == "Usage"
    assert out["ChargeClass"] is None
    assert out["ChargeFrequency"] == "Usage-Based"
    assert out["PricingCategory"] == "Standard"
    assert out["CommitmentDiscountStatus"] is None
    assert out["CommitmentDiscountCategory"] == "Spend"
    assert out["Tags"] is None
    assert out["RegionId"] is None
    assert out["ChargePeriodStart"].isoformat() == "2024-09-04T04:00:00+00:00"


def test_unknown_values_of_other_columns_are_kept() -> None:
    row = {**MINIMAL, "ChargeFrequency": "Monthly", "PricingCategory": "Spot", "ServiceCategory": "Gadgets"}
    out = _convert_rows("focus-1.2", [row]).batch.to_pylist()[0]
    assert (out["ChargeFrequency"], out["PricingCategory"], out["ServiceCategory"]) == ("Monthly", "Spot", "Gadgets")


@pytest.mark.parametrize(
    ("provider", "x_provider"),
    [
        ("AWS", "aws"),
        ("Amazon Web Services", "aws"),
        ("Microsoft", "azure"),
        ("Google Cloud", "gcp"),
        ("Oracle", "oci"),
        ("Oracle Cloud Infrastructure", "oci"),
        ("Alibaba Cloud", "alibaba"),
        ("ACMECORP", "other"),
    ],
)
def test_x_provider_from_provider_name(provider: str, x_provider: str) -> None:
    for rid in GENERIC:
        out = _convert_rows(rid, [{**MINIMAL, "ProviderName": provider}]).batch.to_pylist()[0]
        assert out["x_Provider"] == x_provider
        assert out["ProviderName"] == provider
        assert out["ServiceProviderName"] == provider


def test_x_columns_are_kept_and_1_3_service_provider_wins() -> None:
    row = {**MINIMAL, "x_Custom": "v", "x_Other": None, "ServiceProviderName": "Reseller", "HostProviderName": "AWS"}
    out = _convert_rows("focus-1.2", [row]).batch.to_pylist()[0]
    assert json.loads(out["x_Extensions"]) == {"x_Custom": "v"}
    assert (out["ServiceProviderName"], out["HostProviderName"]) == ("Reseller", "AWS")


def test_1_0_preview_names_are_upgraded(tmp_path: Path) -> None:
    header = [c for c in MINIMAL if c not in ("EffectiveCost", "ChargeCategory")]
    header += ["AmortizedCost", "ChargeType", "UsageQuantity", "UsageUnit", "Region", "PricingCategory"]
    header += ["ChargeSubcategory", "CommitmentDiscountId"]
    values = {**MINIMAL, "AmortizedCost": "1.2", "ChargeType": "Usage", "UsageQuantity": "3", "UsageUnit": "Hours"}
    values.update(
        {"Region": "us-east-1", "PricingCategory": "Commitment-Based", "ChargeSubcategory": "Used Commitment"}
    )
    values["CommitmentDiscountId"] = "cd-1"
    path = tmp_path / "preview.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerow([values[c] for c in header])
    conv = open_conversion(path, source="preview.csv", file_id="f", block_size=1 << 16)
    assert conv.rules.id == "focus-1.0"
    (result, _), *_ = list(conv.chunks())
    assert result is not None
    out = result.batch.to_pylist()[0]
    assert out["EffectiveCost"] == Decimal("1.2")
    assert out["ChargeCategory"] == "Usage"
    assert (out["ConsumedQuantity"], out["ConsumedUnit"], out["RegionId"]) == (Decimal(3), "Hours", "us-east-1")
    assert out["PricingCategory"] == "Committed"
    assert out["CommitmentDiscountStatus"] == "Used"
    assert json.loads(out["x_Extensions"]) == {"x_ChargeSubcategory": "Used Commitment"}


def test_oracle_pre_1_0_provider_columns_are_aliases() -> None:
    header = [c for c in MINIMAL if c not in ("ProviderName", "PublisherName", "InvoiceIssuerName")]
    assert detect_format([*header, "Provider", "Publisher", "InvoiceIssuer"]).id == "focus-1.0"


def test_parquet_focus_file_with_typed_and_map_columns(tmp_path: Path) -> None:
    ts = pa.timestamp("ms", tz="UTC")
    table = pa.table(
        {
            "BilledCost": pa.array([1.25, -0.5], pa.float64()),
            "EffectiveCost": pa.array([1.0, -0.5], pa.float64()),
            "ListCost": pa.array([2.0, -0.5], pa.float64()),
            "ContractedCost": pa.array([1.25, -0.5], pa.float64()),
            "BillingAccountId": ["acct", "acct"],
            "BillingCurrency": ["EUR", "EUR"],
            "BillingPeriodStart": pa.array([1725148800000] * 2, ts),
            "BillingPeriodEnd": pa.array([1727740800000] * 2, ts),
            "ChargePeriodStart": pa.array([1725148800000] * 2, ts),
            "ChargePeriodEnd": pa.array([1725152400000] * 2, ts),
            "ChargeCategory": ["Usage", "Credit"],
            "InvoiceId": ["inv-1", "inv-1"],
            "InvoiceIssuerName": ["Google", "Google"],
            "ProviderName": ["Google Cloud", "Google Cloud"],
            "PublisherName": ["Google", "Google"],
            "ServiceCategory": ["Compute", "Compute"],
            "ServiceName": ["Compute Engine", "Compute Engine"],
            "Tags": pa.array([[("env", "prod")], None], pa.map_(pa.string(), pa.string())),
            "x_Credits": ["none", "sustained use"],
        }
    )
    path = tmp_path / "focus.parquet"
    pq.write_table(table, path)
    conv = open_conversion(path, source="focus.parquet", file_id="f", block_size=1 << 16)
    assert conv.rules.id == "focus-1.2"
    rows = [r for result, _ in conv.chunks() if result is not None for r in result.batch.to_pylist()]
    assert [r["BilledCost"] for r in rows] == [Decimal("1.25"), Decimal("-0.5")]
    assert [r["x_Provider"] for r in rows] == ["gcp", "gcp"]
    assert json.loads(rows[0]["Tags"]) == {"env": "prod"}
    assert rows[1]["Tags"] is None
    assert json.loads(rows[1]["x_Extensions"]) == {"x_Credits": "sustained use"}
    assert conv.source_totals == conv.converted_totals == {"EUR": Decimal("0.75")}


def test_versions_map_columns_the_same_way() -> None:
    r10, r11, r12 = (_rules(r) for r in GENERIC)
    assert r11.columns == r12.columns
    differ = {k for k in r10.columns if r10.columns[k] != r12.columns[k]}
    assert differ == {"PricingCategory", "CommitmentDiscountStatus"}  # 1.0-preview values upgraded in 1.0 only
    assert r10.x_provider == r11.x_provider == r12.x_provider
    assert r10.null_values == r11.null_values == r12.null_values == ["NULL", "null", ""]


def test_make_spec_examples_reproduces_the_committed_fixtures(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_spec_examples", FOCUS / "make_spec_examples.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for name in (
        "spec12_commitment_flexibility.csv",
        "spec12_virtual_currency.csv",
        "spec12_saas_spend_agreements.csv",
    ):
        assert (tmp_path / name).read_bytes() == (FOCUS / name).read_bytes(), name


def test_focus_sample_is_the_published_file() -> None:
    import hashlib

    digest = hashlib.sha256((FOCUS / "focus10_sample.csv").read_bytes()).hexdigest()
    manifest = Path("/work/shared/samples/MANIFEST.json")
    if not manifest.is_file():
        pytest.skip("shared samples not on this machine")
    entries = {e["file"]: e for e in json.loads(manifest.read_text())}
    assert digest == entries["focus/focus-sample-data_FOCUS-1.0_focus_sample.csv"]["sha256"]
