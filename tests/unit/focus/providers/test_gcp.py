"""Google Cloud Billing export to BigQuery (gcp-billing-export): JSON lines, Parquet and CSV.

The golden fixtures (tests/fixtures/gcp, built by make_fixtures.py) pin the expected rows; these
tests cover what they do not: the three formats agree row for row, credits become Credit rows of
the right kind, JSON lines whose nested fields are empty for a whole first block still read,
the accepted CSV flattenings, timestamps, detection against other providers, and bad input.
"""

from __future__ import annotations

import copy
import csv
import gzip
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cloudops.errors import BadDataError
from cloudops.focus.detect import detect_format
from cloudops.focus.rules import load_all_rules, load_lookup
from cloudops.sources.converter import open_conversion
from cloudops.sources.readers import open_table

GCP = Path(__file__).resolve().parents[3] / "fixtures" / "gcp"
JSONL = GCP / "detailed_json.jsonl"
PARQUET = GCP / "detailed_parquet.parquet"
CSV = GCP / "detailed_csv.csv"
CUD_TYPES = {"COMMITTED_USAGE_DISCOUNT": "Usage", "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE": "Spend"}


def _convert(path: Path, block_size: int = 1 << 16) -> tuple[Any, list[dict[str, Any]], list[Any]]:
    conv = open_conversion(path, source=str(path), file_id="t", block_size=block_size)
    rows: list[dict[str, Any]] = []
    rejected: list[Any] = []
    for result, malformed in conv.chunks():
        rejected.extend(malformed)
        if result is not None:
            rejected.extend(result.rejected)
            rows.extend(result.batch.to_pylist())
    return conv, rows, rejected


def _records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in JSONL.read_text(encoding="utf-8").splitlines()]


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _focus_only(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("x_FileId", "x_BatchId", "x_Extensions")}


def _source_total(records: list[dict[str, Any]]) -> Decimal:
    total = Decimal(0)
    for r in records:
        total += Decimal(repr(r["cost"])) + sum((Decimal(repr(c["amount"])) for c in r["credits"]), Decimal(0))
    return total


# --------------------------------------------------------------------------- formats agree


@pytest.fixture(scope="module")
def converted() -> dict[str, list[dict[str, Any]]]:
    return {p.suffix: _convert(p)[1] for p in (JSONL, PARQUET, CSV)}


def test_json_parquet_and_csv_give_the_same_focus_rows(converted: dict[str, list[dict[str, Any]]]) -> None:
    json_rows = [_focus_only(r) for r in converted[".jsonl"]]
    assert json_rows == [_focus_only(r) for r in converted[".parquet"]]
    assert json_rows == [_focus_only(r) for r in converted[".csv"]]


def test_billed_cost_is_cost_plus_credits_per_source_row(converted: dict[str, list[dict[str, Any]]]) -> None:
    records = _records()
    by_row: dict[int, Decimal] = {}
    for row in converted[".jsonl"]:
        by_row[row["x_RowNumber"]] = by_row.get(row["x_RowNumber"], Decimal(0)) + row["BilledCost"]
    for i, r in enumerate(records):
        assert by_row[i] == _source_total([r]), i
    assert sum(by_row.values(), Decimal(0)) == _source_total(records)


def test_every_credit_is_its_own_credit_row(converted: dict[str, list[dict[str, Any]]]) -> None:
    records = _records()
    credits = [(i, c) for i, r in enumerate(records) for c in r["credits"]]
    rows = [r for r in converted[".jsonl"] if r["ChargeCategory"] == "Credit"]
    assert len(rows) == len(credits)
    for (i, credit), row in zip(credits, rows, strict=True):
        assert row["x_RowNumber"] == i
        amount = Decimal(repr(credit["amount"]))
        assert row["BilledCost"] == row["EffectiveCost"] == row["ListCost"] == row["ContractedCost"] == amount
        assert row["ChargeDescription"] == (credit["full_name"] or credit["name"])
        ext = json.loads(row["x_Extensions"])
        assert ext["x_CreditType"] == credit["type"]
        # No usage quantities or prices on credits; never a commitment status (only Usage rows have one).
        for col in ("PricingQuantity", "ConsumedQuantity", "PricingCategory", "CommitmentDiscountStatus"):
            assert row[col] is None, col
        if credit["type"] in CUD_TYPES:
            assert row["CommitmentDiscountCategory"] == CUD_TYPES[credit["type"]]
            assert row["CommitmentDiscountId"] is not None
            assert row["CommitmentDiscountType"].endswith("committed use discount")
        else:  # sustained use, free tier, promotion, discount, subscription benefit: not commitments
            assert row["CommitmentDiscountId"] is None
            assert row["CommitmentDiscountCategory"] is None


def test_commitment_fees_are_recurring_purchases(converted: dict[str, list[dict[str, Any]]]) -> None:
    fees = [r for r in converted[".jsonl"] if r["ChargeCategory"] == "Purchase"]
    assert [r["ChargeDescription"] for r in fees] == [
        "Commitment v1: Cpu in Americas for 1 Year",
        "Commitment - dollar based v1: Cloud SQL for 1 year",
    ]
    assert [r["CommitmentDiscountCategory"] for r in fees] == ["Usage", "Spend"]
    for r in fees:
        assert r["ChargeFrequency"] == "Recurring"
        assert r["PricingCategory"] == "Standard"
        assert r["ConsumedQuantity"] is None
        assert r["CommitmentDiscountQuantity"] is not None
        assert r["CommitmentDiscountUnit"] == "Hours"


def test_cost_types_map_to_charge_categories(converted: dict[str, list[dict[str, Any]]]) -> None:
    base = {r["x_RowNumber"]: r for r in converted[".jsonl"] if r["ChargeCategory"] != "Credit"}
    kinds = {r["cost_type"] for r in _records()}
    assert kinds == {"regular", "tax", "adjustment", "rounding_error"}
    for i, rec in enumerate(_records()):
        want = {"tax": "Tax", "adjustment": "Adjustment", "rounding_error": "Adjustment"}.get(rec["cost_type"])
        if want:
            assert base[i]["ChargeCategory"] == want
            assert base[i]["PricingCategory"] is None
            assert base[i]["PricingQuantity"] is None


# --------------------------------------------------------------------------- JSON lines


def test_json_lines_with_nested_fields_empty_in_the_first_block(tmp_path: Path) -> None:
    # Arrow infers JSON types from the first block: without the rules' json_types, a file whose
    # first few thousand rows have no credits, labels or adjustment fails ("changed from null").
    records = _records()
    plain = copy.deepcopy(records[9])  # egress row: no credits, no labels
    plain.update(adjustment_info=None, subscription=None, seller_name=None, resource=None)
    many = [plain] * 60 + records  # ~1.3 kB a row: the first 32 KiB block holds plain rows only
    path = _write_jsonl(tmp_path / "export.json", many)
    conv, rows, rejected = _convert(path, block_size=32 << 10)
    assert conv.table.json_schema is not None
    assert rejected == []
    assert conv.rows_in == len(many)
    assert conv.source_totals == {"USD": _source_total(many)}
    assert conv.converted_totals == conv.source_totals
    assert sum(r["ChargeCategory"] == "Credit" for r in rows) == sum(len(r["credits"]) for r in records)
    adjustment = [r for r in rows if r["ChargeClass"] == "Correction"]
    assert len(adjustment) == 1


def test_gzipped_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "export.json.gz"
    path.write_bytes(gzip.compress(JSONL.read_bytes()))
    conv, rows, _ = _convert(path)
    assert conv.rules.id == "gcp-billing-export"
    assert len(rows) == 22


def test_standard_export_without_resource_and_price_fields(tmp_path: Path) -> None:
    records = _records()
    for r in records:
        for field in ("resource", "price", "subscription", "consumption_model"):
            r.pop(field)
    conv, rows, rejected = _convert(_write_jsonl(tmp_path / "standard.json", records))
    assert conv.rules.id == "gcp-billing-export"
    assert rejected == []
    assert conv.converted_totals == {"USD": _source_total(records)}
    assert all(r["ResourceId"] is None and r["ContractedUnitPrice"] is None for r in rows)


@pytest.mark.parametrize(
    "stamp",
    ["2024-03-05 08:00:00 UTC", "2024-03-05T08:00:00Z", "2024-03-05T08:00:00+00:00", "2024-03-05 08:00:00"],
)
def test_timestamp_spellings(tmp_path: Path, stamp: str) -> None:
    record = _records()[9]
    record["usage_start_time"] = stamp
    _, rows, rejected = _convert(_write_jsonl(tmp_path / "t.json", [record]))
    assert rejected == []
    assert rows[0]["ChargePeriodStart"].isoformat() == "2024-03-05T08:00:00+00:00"


def test_bad_timestamp_rejects_the_row(tmp_path: Path) -> None:
    good, bad = _records()[9], _records()[9]
    bad["usage_start_time"] = "05/03/2024 08:00"
    conv, rows, rejected = _convert(_write_jsonl(tmp_path / "t.json", [good, bad]))
    assert len(rows) == 1
    assert conv.rows_rejected == 1
    assert "ChargePeriodStart" in rejected[0].reason


def test_a_null_cost_type_is_rejected_not_guessed(tmp_path: Path) -> None:
    record = _records()[9]
    record["cost_type"] = None
    conv, rows, rejected = _convert(_write_jsonl(tmp_path / "t.json", [record]))
    assert rows == []
    assert conv.rows_rejected == 1
    assert "ChargeCategory: mandatory value missing" in rejected[0].reason


# --------------------------------------------------------------------------- CSV flattenings


def _csv_rows() -> tuple[list[str], list[dict[str, str]]]:
    with CSV.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def test_csv_with_dotted_record_names_is_the_same_format(tmp_path: Path, converted: dict[str, list]) -> None:
    header, rows = _csv_rows()
    aliases = load_all_rules()
    gcp = next(r for r in aliases if r.id == "gcp-billing-export")
    underscore_to_dotted = {s: canonical for canonical, spellings in gcp.aliases.items() for s in spellings}
    dotted = [underscore_to_dotted.get(h, h) for h in header]
    assert "service.description" in dotted
    assert "project.labels" in dotted
    path = _write_csv(tmp_path / "dotted.csv", dotted, [[r[h] for h in header] for r in rows])
    conv, out, rejected = _convert(path)
    assert conv.rules.id == "gcp-billing-export"
    assert rejected == []
    assert [_focus_only(r) for r in out] == [_focus_only(r) for r in converted[".csv"]]


def test_csv_credits_that_are_not_json_reject_only_their_row(tmp_path: Path) -> None:
    header, rows = _csv_rows()
    values = [[r[h] for h in header] for r in rows[:3]]
    values[1][header.index("credits")] = "Committed Usage Discount: CPU -0.126444"
    conv, out, rejected = _convert(_write_csv(tmp_path / "bad.csv", header, values))
    assert conv.rows_rejected == 1
    assert rejected[0].row_number == 1
    assert "credits: not valid JSON" in rejected[0].reason
    assert {r["x_RowNumber"] for r in out} == {0, 2}
    # Reconciliation stays exact: what was read = what landed + what was rejected.
    for cur, total in conv.source_totals.items():
        assert total == conv.converted_totals.get(cur, Decimal(0)) + conv.rejected_totals.get(cur, Decimal(0))


def test_csv_empty_repeated_fields(tmp_path: Path) -> None:
    header, rows = _csv_rows()
    values = [[r[h] for h in header] for r in rows[9:10]]
    for name in ("credits", "labels", "system_labels", "tags", "project_labels"):
        values[0][header.index(name)] = ""
    _conv, out, rejected = _convert(_write_csv(tmp_path / "empty.csv", header, values))
    assert rejected == []
    assert len(out) == 1
    assert out[0]["Tags"] is None


def test_parquet_with_lists_of_null_type(tmp_path: Path) -> None:
    table = pq.read_table(PARQUET)
    no_credits = table.set_column(
        table.schema.get_field_index("credits"), "credits", pa.nulls(table.num_rows, pa.list_(pa.null()))
    )
    path = tmp_path / "nocredits.parquet"
    pq.write_table(no_credits, path)
    conv, rows, rejected = _convert(path)
    assert rejected == []
    assert len(rows) == table.num_rows
    costs = sum((Decimal(repr(c)) for c in table.column("cost").to_pylist()), Decimal(0))
    assert conv.converted_totals == {"USD": costs}


# --------------------------------------------------------------------------- detection, lookups


def test_detected_from_the_header_whatever_the_flattening() -> None:
    header, _ = _csv_rows()
    assert detect_format(header).id == "gcp-billing-export"
    nested = [h.replace("_", ".", 1) if h.startswith(("service_", "sku_", "invoice_")) else h for h in header]
    assert detect_format(nested).id == "gcp-billing-export"


def test_other_providers_headers_are_not_gcp() -> None:
    fixtures = GCP.parent
    checked = 0
    for path in sorted(fixtures.rglob("*")):
        if path.parent.name == "gcp" or path.name.startswith("gcp__"):  # gcp/ and blank/gcp__* (GCP files)
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
        assert rules.provider != "gcp", path
    assert checked >= 5


def test_missing_cost_is_not_gcp() -> None:
    header, _ = _csv_rows()
    with pytest.raises(BadDataError, match="unknown billing format"):
        detect_format([h for h in header if h != "cost"])


def test_lookups_cover_the_fixture_services() -> None:
    categories = load_lookup("gcp_service_categories.csv")
    services = {r["service"]["description"] for r in _records()}
    assert {s for s in services if s in categories} >= {"Compute Engine", "Cloud Storage", "BigQuery", "Cloud SQL"}
    assert load_lookup("gcp_region_names.csv")["us-central1"] == "Iowa"
    assert load_lookup("gcp_units.csv")["gibibyte month"] == "GiB-Months"
