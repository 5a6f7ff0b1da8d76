"""Oracle Cloud Infrastructure formats: the proprietary cost report (oci-cost-report) and Oracle's FOCUS export
(oci-focus). Detection against the other providers' headers, the lookup tables, and the row-level behaviours
the golden fixtures in tests/fixtures/oci do not pin down on their own."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from cloudops.errors import BadDataError
from cloudops.focus.convert import convert_batch
from cloudops.focus.detect import canonical_header, detect_format
from cloudops.focus.rules import FormatRules, load_all_rules, load_lookup, load_rules, rules_dir
from cloudops.sources.converter import open_conversion

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
OCI = FIXTURES / "oci"
FOCUS_SAMPLE = Path("/work/shared/samples/focus/focus-sample-data_FOCUS-1.0_focus_sample.csv")

AWS_DETECT = ["lineItem/LineItemType", "lineItem/UnblendedCost", "bill/PayerAccountId", "lineItem/UsageStartDate"]
OCI_COST_DETECT = [
    "lineItem/referenceNo",
    "lineItem/intervalUsageStart",
    "product/service",
    "cost/myCost",
    "cost/currencyCode",
]
OCI_FOCUS_DETECT = ["BilledCost", "BillingCurrency", "ChargePeriodStart", "oci_ReferenceNumber", "oci_CompartmentId"]

# FOCUS 1.2 ServiceCategory allowed values, and the parent category of each ServiceSubcategory the OCI
# lookups use (FOCUS 1.2 "ServiceSubcategory" allowed values).
SERVICE_CATEGORIES = {
    "AI and Machine Learning",
    "Analytics",
    "Business Applications",
    "Compute",
    "Databases",
    "Developer Tools",
    "Multicloud",
    "Identity",
    "Integration",
    "Internet of Things",
    "Management and Governance",
    "Media",
    "Migration",
    "Mobile",
    "Networking",
    "Security",
    "Storage",
    "Web",
    "Other",
}
SUBCATEGORY_PARENT = {
    "Virtual Machines": "Compute",
    "Serverless Compute": "Compute",
    "Containers": "Compute",
    "Block Storage": "Storage",
    "Object Storage": "Storage",
    "File Storage": "Storage",
    "Data Migration": "Migration",
    "Relational Databases": "Databases",
    "NoSQL Databases": "Databases",
    "Caching": "Databases",
    "Ledger Databases": "Databases",
    "Search": "Analytics",
    "Streaming Analytics": "Analytics",
    "Business Intelligence": "Analytics",
    "Data Processing": "Analytics",
    "Network Connectivity": "Networking",
    "Application Networking": "Networking",
    "Network Routing": "Networking",
    "Network Security": "Networking",
    "Observability": "Management and Governance",
    "Data Governance": "Management and Governance",
    "Messaging": "Integration",
    "API Management": "Integration",
    "Workflow Orchestration": "Integration",
    "Other (Integration)": "Integration",
    "Machine Learning": "AI and Machine Learning",
    "Generative AI": "AI and Machine Learning",
    "Natural Language Processing": "AI and Machine Learning",
    "Other (AI and Machine Learning)": "AI and Machine Learning",
    "Bots": "AI and Machine Learning",
    "Secret Management": "Security",
    "Security Posture Management": "Security",
    "Other (Security)": "Security",
    "Identity and Access Management": "Identity",
    "Continuous Integration and Deployment": "Developer Tools",
    "Other (Developer Tools)": "Developer Tools",
    "Developer Platforms": "Developer Tools",
    "Other (Media)": "Media",
    "IoT Platforms": "Internet of Things",
}


def _header(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


@pytest.fixture(scope="module")
def cost_rules() -> FormatRules:
    (rules,) = [r for r in load_all_rules() if r.id == "oci-cost-report"]
    return rules


@pytest.fixture(scope="module")
def focus_rules() -> FormatRules:
    (rules,) = [r for r in load_all_rules() if r.id == "oci-focus"]
    return rules


@pytest.fixture(scope="module")
def cost_header() -> list[str]:
    return _header(OCI / "cost_report_sample.csv")


# --- rules files and lookups -------------------------------------------------------------------------------


def test_rules_files_load_with_their_ids_and_priorities() -> None:
    cost = load_rules(rules_dir() / "oci_cost_report.yaml")
    focus = load_rules(rules_dir() / "oci_focus.yaml")
    assert (cost.id, cost.provider, cost.priority) == ("oci-cost-report", "oci", 10)
    assert (focus.id, focus.provider, focus.priority) == ("oci-focus", "oci", 20)
    assert focus.extension_prefixes == ["oci_"]


def test_service_lookups_cover_the_same_services_with_allowed_values() -> None:
    categories = load_lookup("oci_service_categories.csv")
    subcategories = load_lookup("oci_service_subcategories.csv")
    assert categories.keys() == subcategories.keys()
    assert set(categories.values()) <= SERVICE_CATEGORIES
    for service, sub in subcategories.items():
        assert SUBCATEGORY_PARENT[sub] == categories[service], service
    # Every service of the real sample is mapped.
    for service in ["BLOCK_STORAGE", "COMPUTE", "DATABASE", "MYSQL", "NETWORK", "OBJECTSTORE", "TELEMETRY"]:
        assert service in categories
    assert categories["ORACLE_STREAMING_SERVICE"] == "Analytics"


def test_region_lookup_names_the_commercial_regions() -> None:
    regions = load_lookup("oci_regions.csv")
    assert regions["us-sanjose-1"] == "US West (San Jose)"
    assert regions["eu-frankfurt-1"] == "Germany Central (Frankfurt)"
    assert all(name and "(" in name for name in regions.values())


# --- detection --------------------------------------------------------------------------------------------


def test_real_cost_report_header_is_oci_cost_report(cost_header: list[str]) -> None:
    assert detect_format(cost_header).id == "oci-cost-report"


def test_documented_spellings_are_aliases(cost_rules: FormatRules) -> None:
    header = [*OCI_COST_DETECT, "lineItem/TenantId", "product/Description", "lineItem/backReferenceNo"]
    assert detect_format(header).id == "oci-cost-report"
    assert canonical_header(header, cost_rules)[-3:] == [
        "lineItem/tenantId",
        "product/description",
        "lineItem/backreferenceNo",
    ]


def test_aws_cur_sample_is_not_taken_for_oci(cur_header: list[str]) -> None:
    assert detect_format(cur_header).id == "aws-cur"


def test_header_with_both_aws_and_oci_columns_is_aws_not_oci(cur_header: list[str], cost_header: list[str]) -> None:
    both = cur_header + [c for c in cost_header if c not in cur_header]
    assert detect_format(both).id == "aws-cur"
    assert detect_format(list(reversed(both))).id == "aws-cur"


@pytest.mark.parametrize("aws_column", AWS_DETECT)
def test_oci_header_with_an_aws_column_is_refused(cost_header: list[str], aws_column: str) -> None:
    # One AWS CUR column is not an AWS CUR (aws-cur needs all four), and OCI excludes it: no silent guess.
    with pytest.raises(BadDataError, match="unknown billing format"):
        detect_format([*cost_header, aws_column], source="oci.csv")


def test_oci_usage_report_without_cost_columns_is_unknown(cost_header: list[str]) -> None:
    usage_report = [c for c in cost_header if not c.startswith("cost/")] + ["usage/consumedQuantity"]
    with pytest.raises(BadDataError, match="unknown billing format"):
        detect_format(usage_report, source="usage.csv")


@pytest.mark.parametrize("name", ["focus_export.csv", "focus_export_v12.csv.gz"])
def test_oci_focus_headers_are_oci_focus(name: str) -> None:
    header = _header(OCI / name)
    assert detect_format(header).id == "oci-focus"


def test_generic_focus_file_is_not_oci_focus() -> None:
    if not FOCUS_SAMPLE.is_file():
        pytest.skip("shared FOCUS sample not available")
    header = _header(FOCUS_SAMPLE)
    # Without generic FOCUS rules installed the header is unknown, which is also not OCI.
    with contextlib.suppress(BadDataError):
        assert not detect_format(header).id.startswith("oci-")


@pytest.mark.parametrize("dropped", OCI_FOCUS_DETECT)
def test_oci_focus_needs_every_detect_column(dropped: str) -> None:
    header = [c for c in _header(OCI / "focus_export.csv") if c != dropped]
    with contextlib.suppress(BadDataError):
        assert detect_format(header).id != "oci-focus"


@pytest.mark.parametrize(
    "header",
    [
        # Azure EA / MCA cost exports
        ["SubscriptionGuid", "ResourceGroup", "CostInBillingCurrency", "BillingCurrencyCode", "Date", "MeterCategory"],
        ["BillingAccountId", "BillingPeriodStartDate", "CostInBillingCurrency", "ProductName", "MeterId", "ChargeType"],
        # GCP detailed export flattened
        ["billing_account_id", "service.id", "service.description", "sku.id", "usage_start_time", "cost", "currency"],
        # Alibaba bill details
        ["BillingCycle", "ProductCode", "InstanceID", "PretaxAmount", "Currency", "BillingItem"],
        # CUR 2.0
        ["line_item_line_item_type", "line_item_unblended_cost", "bill_payer_account_id", "line_item_usage_start_date"],
    ],
)
def test_other_providers_are_never_oci(header: list[str]) -> None:
    with contextlib.suppress(BadDataError):
        assert detect_format(header).provider != "oci"


def test_cost_report_and_focus_export_do_not_cross(cost_header: list[str]) -> None:
    focus_header = _header(OCI / "focus_export.csv")
    assert detect_format(cost_header).id == "oci-cost-report"
    assert detect_format(focus_header).id == "oci-focus"
    assert not set(OCI_COST_DETECT) & set(focus_header)


# --- cost report rows -------------------------------------------------------------------------------------

BASE_ROW: dict[str, str | None] = {
    "lineItem/referenceNo": "r1",
    "lineItem/tenantId": "ocid1.tenancy.oc1..t",
    "lineItem/intervalUsageStart": "2024-12-31T23:00Z",
    "lineItem/intervalUsageEnd": "2025-01-01T00:00:00Z",
    "product/service": "COMPUTE",
    "product/region": "us-ashburn-1",
    "product/resourceId": "ocid1.instance.oc1.iad.abc",
    "usage/billedQuantity": "2",
    "cost/subscriptionId": "42",
    "cost/productSku": "B93113",
    "product/description": "Compute - Standard - E4 - OCPU",
    "cost/unitPrice": "0.025",
    "cost/myCost": "0.05",
    "cost/currencyCode": "USD",
    "cost/skuUnitDescription": "OCPU Hours",
    "cost/overageFlag": "false",
    "lineItem/isCorrection": "false",
}


def _convert(rules: FormatRules, batch: pa.RecordBatch):  # type: ignore[no-untyped-def]
    return convert_batch(batch, rules, file_id="f", batch_id="b", row_offset=0)


def test_correction_flag_in_any_case_is_a_correction(
    cost_rules: FormatRules, to_batch: Callable[..., pa.RecordBatch]
) -> None:
    rows = [{**BASE_ROW, "lineItem/isCorrection": flag, "cost/myCost": "-0.05"} for flag in ("true", "True", "TRUE")]
    rows.append({**BASE_ROW, "lineItem/isCorrection": "false"})
    out = _convert(cost_rules, to_batch(rows)).batch.to_pylist()
    assert [r["ChargeCategory"] for r in out] == ["Adjustment"] * 3 + ["Usage"]
    assert [r["ChargeClass"] for r in out] == ["Correction"] * 3 + [None]


def test_negative_amounts_in_any_notation_are_credits(
    cost_rules: FormatRules, to_batch: Callable[..., pa.RecordBatch]
) -> None:
    rows = [{**BASE_ROW, "cost/myCost": cost} for cost in ("-1.5E-3", " -2", "-0.000000000000000001", "0E-10")]
    out = _convert(cost_rules, to_batch(rows)).batch.to_pylist()
    assert [r["ChargeCategory"] for r in out] == ["Credit", "Credit", "Credit", "Usage"]
    credit = out[0]
    assert credit["BilledCost"] == Decimal("-0.0015")
    for column in ("ConsumedQuantity", "PricingQuantity", "PricingCategory", "ListUnitPrice"):
        assert credit[column] is None, column
    assert out[3]["PricingCategory"] == "Standard"


def test_billing_period_follows_the_usage_month_across_the_year_end(
    cost_rules: FormatRules, to_batch: Callable[..., pa.RecordBatch]
) -> None:
    (row,) = _convert(cost_rules, to_batch([BASE_ROW])).batch.to_pylist()
    assert row["BillingPeriodStart"].isoformat() == "2024-12-01T00:00:00+00:00"
    assert row["BillingPeriodEnd"].isoformat() == "2025-01-01T00:00:00+00:00"
    assert row["ChargePeriodStart"].isoformat() == "2024-12-31T23:00:00+00:00"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"cost/myCost": None}, "BilledCost: mandatory value missing"),
        ({"cost/myCost": "1,5"}, "BilledCost: not a valid decimal value"),
        ({"lineItem/intervalUsageStart": "13/11/2023 10:00"}, "not a valid"),
        ({"product/service": None}, "ServiceName: mandatory value missing"),
        ({"cost/currencyCode": None}, "BillingCurrency: mandatory value missing"),
    ],
)
def test_bad_rows_are_rejected_with_a_reason(
    cost_rules: FormatRules,
    to_batch: Callable[..., pa.RecordBatch],
    overrides: dict[str, str | None],
    reason: str,
) -> None:
    columns = list(BASE_ROW)
    result = _convert(cost_rules, to_batch([BASE_ROW, {**BASE_ROW, **overrides}], columns=columns))
    assert result.batch.num_rows == 1
    (rejected,) = result.rejected
    assert rejected.row_number == 1
    assert reason in rejected.reason
    # The good row lands; the bad one's readable cost is counted as rejected, never as zero.
    total = result.source_totals.get("USD", Decimal(0))
    landed = sum(result.batch.column("BilledCost").to_pylist(), Decimal(0))
    assert total == landed + result.rejected_totals.get("USD", Decimal(0))


def test_missing_subscription_falls_back_to_the_tenancy(
    cost_rules: FormatRules, to_batch: Callable[..., pa.RecordBatch]
) -> None:
    (row,) = _convert(cost_rules, to_batch([{**BASE_ROW, "cost/subscriptionId": None}])).batch.to_pylist()
    assert row["BillingAccountId"] == "ocid1.tenancy.oc1..t"
    assert row["BillingAccountType"] == "Tenancy"


def test_tags_from_every_tags_column(cost_rules: FormatRules, to_batch: Callable[..., pa.RecordBatch]) -> None:
    row = {**BASE_ROW, "tags/Oracle-Tags.CreatedBy": "default/a@b.c", "tags/Ops.Team": 'x"y', "tags/Empty.Key": None}
    (out,) = _convert(cost_rules, to_batch([row])).batch.to_pylist()
    assert json.loads(out["Tags"]) == {"Oracle-Tags.CreatedBy": "default/a@b.c", "Ops.Team": 'x"y'}


def test_truncated_gzip_is_one_clear_error(tmp_path: Path) -> None:
    data = (OCI / "cost_report_corrections.csv.gz").read_bytes()
    broken = tmp_path / "cost.csv.gz"
    broken.write_bytes(data[: len(data) // 2])

    def read_all() -> None:
        conv = open_conversion(broken, source="oci://bucket/cost.csv.gz", file_id="x", block_size=1 << 16)
        list(conv.chunks())

    with pytest.raises(BadDataError, match="truncated") as info:
        read_all()
    assert "oci://bucket/cost.csv.gz" in str(info.value)


def _csv(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def test_focus_export_without_billing_account_is_a_bad_file(tmp_path: Path) -> None:
    header = _header(OCI / "focus_export.csv")
    with (OCI / "focus_export.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    keep = [i for i, c in enumerate(header) if c != "BillingAccountId"]
    path = tmp_path / "focus.csv"
    path.write_text(_csv([header[i] for i in keep], [[r[i] for i in keep] for r in rows]), encoding="utf-8")
    with pytest.raises(BadDataError, match="missing required columns for oci-focus: BillingAccountId"):
        open_conversion(path, source="focus.csv", file_id="x", block_size=1 << 16)


# --- FOCUS export rows ------------------------------------------------------------------------------------


def test_focus_pre_1_0_names_and_oracle_defaults(
    focus_rules: FormatRules, to_batch: Callable[..., pa.RecordBatch]
) -> None:
    row = {
        "BilledCost": "1",
        "BillingAccountId": "42",
        "BillingCurrency": "USD",
        "BillingPeriodStart": "2024-05-01T00:00:00.000Z",
        "BillingPeriodEnd": "2024-06-01T00:00:00.000Z",
        "ChargePeriodStart": "2024-05-02T00:00Z",
        "ChargePeriodEnd": "2024-05-02T01:00Z",
        "ChargeCategory": "usage",
        "ChargeFrequency": "USAGE-BASED",
        "ServiceName": "MYSQL",
        "Region": "ap-tokyo-1",
        "UsageQuantity": "5",
        "UsageUnit": "GB Months",
        "oci_ReferenceNumber": "r",
        "oci_CompartmentId": "c",
        "oci_CostOverage": "0.5",
    }
    (out,) = _convert(focus_rules, to_batch([row])).batch.to_pylist()
    assert out["ChargeCategory"] == "Usage"
    assert out["ChargeFrequency"] == "Usage-Based"
    assert (out["ProviderName"], out["PublisherName"], out["InvoiceIssuerName"]) == ("Oracle", "Oracle", "Oracle")
    assert (out["RegionId"], out["RegionName"]) == ("ap-tokyo-1", "Japan East (Tokyo)")
    # OCI unit names become FOCUS UnitFormat (oci_units.csv).
    assert (out["ConsumedQuantity"], out["ConsumedUnit"]) == (Decimal(5), "GB-Months")
    assert (out["ServiceCategory"], out["ServiceSubcategory"]) == ("Databases", "Relational Databases")
    assert out["PricingCategory"] == "Standard"
    assert (out["EffectiveCost"], out["ListCost"], out["ContractedCost"]) == (Decimal(1), Decimal(1), Decimal(1))
    assert '"x_oci_CostOverage":"0.5"' in out["x_Extensions"]


def test_focus_provider_values_win_over_defaults(
    focus_rules: FormatRules, to_batch: Callable[..., pa.RecordBatch]
) -> None:
    row = {
        "BilledCost": "1",
        "BillingAccountId": "42",
        "BillingCurrency": "USD",
        "BillingPeriodStart": "2024-05-01T00:00:00Z",
        "BillingPeriodEnd": "2024-06-01T00:00:00Z",
        "ChargePeriodStart": "2024-05-02T00:00:00Z",
        "ChargePeriodEnd": "2024-05-02T01:00:00Z",
        "ChargeCategory": "Adjustment",
        "ChargeClass": None,
        "ServiceName": "COMPUTE",
        "ServiceCategory": "Compute",
        "PricingCategory": "dynamic",
        "Publisher": "Acme Marketplace Ltd",
        "RegionId": "eu-paris-1",
        "Region": "ignored",
        "oci_ReferenceNumber": "r",
        "oci_CompartmentId": "c",
    }
    (out,) = _convert(focus_rules, to_batch([row])).batch.to_pylist()
    assert out["ChargeClass"] == "Correction"  # Oracle derives Adjustment from lineItem/isCorrection
    assert out["PricingCategory"] == "Dynamic"
    assert out["PublisherName"] == "Acme Marketplace Ltd"
    assert out["RegionId"] == "eu-paris-1"
    assert out["ConsumedQuantity"] is None  # not a Usage row
