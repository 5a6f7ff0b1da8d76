"""FOCUS 1.3 and the supporting datasets: version columns, detection, conversion, `convert --focus-version`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cloudops.cli import app
from cloudops.focus.columns import EXTENSION_COLUMNS, FOCUS_COLUMNS, columns_for_version, focus_arrow_schema
from cloudops.focus.datasets import CONTRACT_COMMITMENT, DATASETS, batch_cost_totals, dataset_schema
from cloudops.focus.detect import detect_format
from cloudops.focus.rules import FormatRules
from cloudops.focus.unmapped import unmapped_columns
from cloudops.sources.converter import open_conversion

FOCUS = Path(__file__).parents[2] / "fixtures" / "focus"
CU13 = FOCUS / "focus13_cost_and_usage.csv"
CC13 = FOCUS / "focus13_contract_commitment.csv"
BP14 = FOCUS / "focus14_billing_period.csv"
ID14 = FOCUS / "focus14_invoice_detail.csv"
SPEC12 = FOCUS / "spec12_commitment_flexibility.csv"

NEW_IN_13 = {
    "ServiceProviderName",
    "HostProviderName",
    "ContractApplied",
    "AllocatedMethodId",
    "AllocatedMethodDetails",
    "AllocatedResourceId",
    "AllocatedResourceName",
    "AllocatedTags",
}


def _header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


def _convert(path: Path) -> tuple[object, list[dict[str, object]]]:
    conv = open_conversion(path, source=str(path), file_id="t", block_size=1 << 16)
    rows: list[dict[str, object]] = []
    for result, _malformed in conv.chunks():
        if result is not None:
            rows += result.batch.to_pylist()
    return conv, rows


# --- columns per version --------------------------------------------------------------------------------


def test_version_columns() -> None:
    v12 = {c.name for c in columns_for_version("1.2")}
    v13 = {c.name for c in columns_for_version("1.3")}
    assert v13 == {c.name for c in FOCUS_COLUMNS}
    assert v13 - v12 == NEW_IN_13
    assert "ProviderName" in v12
    assert "PublisherName" in v13
    assert focus_arrow_schema(version="1.2").names == [c.name for c in columns_for_version("1.2") + EXTENSION_COLUMNS]
    with pytest.raises(ValueError, match="not supported"):
        columns_for_version("1.1")


def test_new_13_columns_are_typed() -> None:
    kinds = {c.name: c.kind for c in FOCUS_COLUMNS if c.name in NEW_IN_13}
    assert kinds["ContractApplied"] == kinds["AllocatedTags"] == kinds["AllocatedMethodDetails"] == "json"
    assert kinds["AllocatedResourceId"] == "string"
    assert all(c.nullable for c in FOCUS_COLUMNS if c.name in NEW_IN_13 - {"ServiceProviderName"})
    assert not next(c for c in FOCUS_COLUMNS if c.name == "ServiceProviderName").nullable  # mandatory in 1.3


# --- detection --------------------------------------------------------------------------------------------


def test_focus_13_file_is_read_as_13() -> None:
    rules = detect_format(_header(CU13))
    assert (rules.id, rules.dataset) == ("focus-1.3", "CostAndUsage")


def test_any_13_column_makes_a_file_13() -> None:
    base = _header(SPEC12)
    assert detect_format(base).id != "focus-1.3"
    for column in sorted(NEW_IN_13):
        assert detect_format([*base, column]).id == "focus-1.3", column


def test_supporting_datasets_are_detected_by_their_columns() -> None:
    assert (detect_format(_header(CC13)).id, detect_format(_header(CC13)).dataset) == (
        "focus-1.3-contract-commitment",
        "ContractCommitment",
    )
    assert detect_format(_header(BP14)).dataset == "BillingPeriod"
    assert detect_format(_header(ID14)).dataset == "InvoiceDetail"
    # Column order and extra columns do not matter; a Cost and Usage header is never a dataset.
    assert detect_format([*list(reversed(_header(CC13))), "x_Note"]).dataset == "ContractCommitment"
    assert detect_format([*_header(CU13), "InvoiceDetailId"]).dataset == "CostAndUsage"


# --- conversion -------------------------------------------------------------------------------------------


def test_13_columns_are_kept_not_dropped() -> None:
    _conv, rows = _convert(CU13)
    assert rows[0]["ContractApplied"] is not None
    assert json.loads(str(rows[0]["ContractApplied"]))["Elements"][0]["ContractCommitmentId"] == "cc-spend-2026"
    split = [r for r in rows if r["AllocatedMethodId"]]
    assert [r["AllocatedResourceName"] for r in split] == ["payments", "search"]
    assert sum(json.loads(str(r["AllocatedMethodDetails"]))["Elements"][0]["AllocatedRatio"] for r in split) == 1


def test_deprecated_provider_columns_filled_from_service_provider() -> None:
    _, rows = _convert(CU13)
    marketplace = rows[1]
    assert (marketplace["ServiceProviderName"], marketplace["HostProviderName"]) == ("Datadog", "Acme Cloud")
    # 1.2 readers: ProviderName is the platform (HostProviderName), PublisherName the seller.
    assert (marketplace["ProviderName"], marketplace["PublisherName"]) == ("Acme Cloud", "Datadog")


def test_unmapped_source_column_goes_to_extensions_and_is_listed() -> None:
    conv, rows = _convert(CU13)
    assert conv.unmapped == ["CustomerCostCenter"]  # type: ignore[attr-defined]
    assert json.loads(str(rows[0]["x_Extensions"]))["x_CustomerCostCenter"] == "CC-17"


def test_every_source_column_of_every_fixture_is_kept() -> None:
    """No rules file drops a column: whatever no rule reads is in x_Extensions (nested ones as JSON)."""
    fixtures = Path(__file__).parents[2] / "fixtures"
    for expected in sorted(fixtures.rglob("*.expected.json")):
        stem = expected.name.removesuffix(".expected.json")
        data = next(p for p in expected.parent.iterdir() if p.name.startswith(stem + ".") and p != expected)
        conv, rows = _convert(data)
        keys = set()
        for r in rows:
            if r["x_Extensions"]:
                keys |= set(json.loads(str(r["x_Extensions"])))
        missing = [c for c in conv.unmapped if (c if c.startswith("x_") else f"x_{c}") not in keys]  # type: ignore[attr-defined]
        # A column that is empty on every row has nothing to keep.
        assert not [c for c in missing if _has_values(data, conv, c)], (data.name, missing)


def _has_values(path: Path, conv: object, column: str) -> bool:
    table = open_conversion(path, source=str(path), file_id="t", block_size=1 << 16).table
    names = list(conv.renames)  # type: ignore[attr-defined]
    for batch in table.batches(lambda _line: None):
        arr = batch.column(names.index(column))
        if arr.null_count < len(arr) and any(v is not None and str(v).strip() for v in arr.to_pylist()):
            return True
    return False


def test_contract_commitment_converts_to_its_own_schema() -> None:
    conv, rows = _convert(CC13)
    schema = dataset_schema("ContractCommitment")
    assert [c.name for c in CONTRACT_COMMITMENT.columns] == schema.names[: len(CONTRACT_COMMITMENT.columns)]
    assert set(rows[0]) == set(schema.names)
    assert "BilledCost" not in schema.names
    assert conv.rows_rejected == 1  # type: ignore[attr-defined]
    assert {r["ContractCommitmentCategory"] for r in rows} == {"Spend", "Usage"}


def test_dataset_cost_totals_skip_null_money() -> None:
    conv = open_conversion(CC13, source="cc", file_id="t", block_size=1 << 16)
    batches = [r.batch for r, _ in conv.chunks() if r is not None]
    totals = batch_cost_totals(batches[0], "ContractCommitment")
    assert {k: str(v.normalize()) for k, v in totals.items()} == {"USD": "3.6E+5"}
    assert batch_cost_totals(batches[0].slice(3, 1), "ContractCommitment") == {}


def test_dataset_rules_are_checked_against_their_dataset() -> None:
    base = {
        "id": "t",
        "provider": "focus",
        "title": "t",
        "dataset": "ContractCommitment",
        "detect": {"all_of": ["ContractId"]},
        "reconcile": {"cost": "c", "currency": "BillingCurrency"},
        "columns": {c.name: c.name for c in CONTRACT_COMMITMENT.columns if not c.nullable},
    }
    FormatRules.model_validate(base)
    with pytest.raises(ValueError, match="unknown FOCUS column 'BilledCost'"):
        FormatRules.model_validate(base | {"columns": base["columns"] | {"BilledCost": "x"}})
    missing = {k: v for k, v in base["columns"].items() if k != "ContractId"}
    with pytest.raises(ValueError, match="mandatory FOCUS columns without a rule: ContractId"):
        FormatRules.model_validate(base | {"columns": missing})
    with pytest.raises(ValueError, match="dataset"):
        FormatRules.model_validate(base | {"dataset": "Nope"})


def test_unmapped_ignores_exploded_fields_and_prefixes() -> None:
    rules = detect_format(_header(CU13))
    assert unmapped_columns(rules, ["BilledCost", "x_Whatever", "item.amount", "Other"]) == ["Other"]


def test_every_dataset_has_a_rules_file() -> None:
    from cloudops.focus.rules import load_all_rules

    assert {r.dataset for r in load_all_rules()} == {"CostAndUsage", *DATASETS}


# --- cloudops convert -------------------------------------------------------------------------------------


def test_convert_writes_13_by_default_and_lists_unmapped(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    result = CliRunner().invoke(app, ["convert", str(CU13), "-o", str(out)], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output  # the unreadable BilledCost row is rejected; totals reconcile
    assert "CustomerCostCenter" in result.output
    schema = pq.read_schema(out)
    assert schema.names == focus_arrow_schema(version="1.3").names
    assert pq.read_table(out).num_rows == 5


def test_convert_focus_version_12_writes_exactly_the_12_columns(tmp_path: Path) -> None:
    out = tmp_path / "out12.parquet"
    result = CliRunner().invoke(app, ["convert", str(CU13), "-o", str(out), "--focus-version", "1.2"])
    assert "FOCUS 1.2 rows" in result.output, result.output
    names = pq.read_schema(out).names
    assert names == [c.name for c in columns_for_version("1.2") + EXTENSION_COLUMNS]
    assert not NEW_IN_13 & set(names)
    table = pq.read_table(out)
    assert table.column("PublisherName").to_pylist()[1] == "Datadog"


def test_convert_writes_a_dataset_to_its_own_file(tmp_path: Path) -> None:
    out = tmp_path / "focus.parquet"
    result = CliRunner().invoke(app, ["convert", str(CU13), str(CC13), str(ID14), "-o", str(out)])
    assert "Contract Commitment rows" in result.output, result.output
    cc = pq.read_table(tmp_path / "focus.contract_commitment.parquet")
    assert cc.num_rows == 4
    assert cc.schema.names == dataset_schema("ContractCommitment").names
    assert pq.read_table(tmp_path / "focus.invoice_detail.parquet").num_rows == 3
    assert pq.read_table(out).num_rows == 5


def test_convert_refuses_a_13_dataset_as_12(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["convert", str(CC13), "-o", str(tmp_path / "o.parquet"), "--focus-version", "1.2"]
    )
    assert result.exit_code != 0
    assert "FOCUS 1.2 has no such dataset" in str(result.exception) + result.output
    result = CliRunner().invoke(app, ["convert", str(CU13), "-o", str(tmp_path / "o.parquet"), "--focus-version", "9"])
    assert result.exit_code != 0


def test_focus_13_rules_map_like_12_plus_the_13_columns() -> None:
    """focus-1.3 is focus-1.2 plus the 1.3 columns: an edit to one must reach the other."""
    from cloudops.focus.rules import load_all_rules

    by_id = {r.id: r for r in load_all_rules()}
    v12, v13 = by_id["focus-1.2"], by_id["focus-1.3"]
    own = NEW_IN_13 | {"ProviderName", "PublisherName"}  # the deprecated two fall back to ServiceProviderName
    assert {k: v for k, v in v12.columns.items() if k not in own} == {
        k: v for k, v in v13.columns.items() if k not in own
    }
    assert set(v13.columns) >= NEW_IN_13
    assert (v12.null_values, v12.aliases, v12.extension_prefixes) == (
        v13.null_values,
        v13.aliases,
        v13.extension_prefixes,
    )


def test_envelope_dataset_is_backward_compatible() -> None:
    """Records written before the `dataset` field existed decode as Cost and Usage."""
    from cloudops.schemas.events import FocusBatchEnvelope

    old = {
        "kind": "rows",
        "tenant": "t",
        "file_id": "f",
        "file_url": "file:///x",
        "format": "aws-cur",
        "seq": 0,
        "batch_id": "b",
        "row_start": 0,
        "row_end": 1,
        "row_count": 1,
    }
    assert FocusBatchEnvelope.model_validate(old).dataset == "CostAndUsage"
    new = FocusBatchEnvelope.model_validate(old | {"dataset": "ContractCommitment"})
    assert FocusBatchEnvelope.model_validate_json(new.model_dump_json()).dataset == "ContractCommitment"
    with pytest.raises(ValueError, match="dataset"):
        FocusBatchEnvelope.model_validate(old | {"dataset": "Nope"})
