"""Golden tests: every fixture with a ``<name>.expected.json`` beside it converts exactly as expected.

Expected files (see tests/fixtures/README.md) give the detected format, row counts,
totals per currency (source and FOCUS BilledCost, exact decimals), spot-checked FOCUS
rows and expected rejections. The file is converted in small blocks so chunking is
exercised too.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from cloudops.focus.columns import FOCUS_COLUMNS
from cloudops.focus.datasets import DATASETS
from cloudops.sources.converter import open_conversion

FIXTURES = Path(__file__).parents[2] / "fixtures"
# JSON text columns (any dataset): an expected object is matched as a subset of the parsed value.
JSON_COLUMNS = {c.name for c in FOCUS_COLUMNS if c.kind == "json"} | {"x_Extensions"}
JSON_COLUMNS |= {c.name for d in DATASETS.values() for c in d.columns if c.kind == "json"}
EXPECTED = sorted(FIXTURES.rglob("*.expected.json"))


def _data_file(expected: Path) -> Path:
    stem = expected.name.removesuffix(".expected.json")
    matches = [p for p in expected.parent.iterdir() if p.name != expected.name and p.name.startswith(stem + ".")]
    matches = [p for p in matches if not p.name.endswith(".expected.json")]
    assert len(matches) == 1, f"{expected}: expected exactly one data file named {stem}.*, found {matches}"
    return matches[0]


def _norm(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def _expected_norm(column: str, value: Any, actual: Any) -> Any:
    if isinstance(actual, Decimal) and value is not None:
        return Decimal(str(value)).normalize()
    if column in JSON_COLUMNS and isinstance(value, dict):
        return value
    return value


def convert_all(path: Path, block_size: int = 1 << 16) -> tuple[Any, pa.Table, list[Any]]:
    conv = open_conversion(path, source=str(path), file_id="golden", block_size=block_size)
    batches, rejected = [], []
    for result, malformed in conv.chunks():
        rejected.extend(malformed)
        if result is not None:
            rejected.extend(result.rejected)
            batches.append(result.batch)
    table = pa.Table.from_batches(batches) if batches else None
    return conv, table, rejected


@pytest.mark.parametrize("expected_path", EXPECTED, ids=[str(p.relative_to(FIXTURES)) for p in EXPECTED])
def test_fixture_converts_as_expected(expected_path: Path) -> None:
    spec = json.loads(expected_path.read_text())
    data = _data_file(expected_path)
    conv, table, rejected = convert_all(data)

    assert conv.rules.id == spec["format"]
    assert conv.rows_in == spec["rows_in"]
    assert conv.rows_rejected == spec.get("rows_rejected", 0)
    assert conv.focus_rows == spec.get("focus_rows", spec["rows_in"] - spec.get("rows_rejected", 0))
    want_source = {k: Decimal(v) for k, v in spec["source_totals"].items()}
    assert conv.source_totals == want_source
    # Exact reconciliation: source = converted BilledCost + rejected, per currency.
    for cur, total in conv.source_totals.items():
        assert total == conv.converted_totals.get(cur, Decimal(0)) + conv.rejected_totals.get(cur, Decimal(0))
    if "billed_totals" in spec:
        assert conv.converted_totals == {k: Decimal(v) for k, v in spec["billed_totals"].items()}
    # Data-quality warnings (optional values left null because unreadable): exactly those expected.
    warnings = [w.model_dump(include={"column", "source", "rows", "sample"}) for w in conv.warnings]
    assert warnings == spec.get("warnings", [])

    rows = table.to_pylist() if table is not None else []
    for want in spec.get("rows", []):
        match = want.get("match", {"x_RowNumber": want.get("x_RowNumber")})
        found = [r for r in rows if all(_norm(r.get(k)) == v for k, v in match.items())]
        assert found, f"no FOCUS row matches {match}"
        row = found[0]
        for column, value in want["columns"].items():
            actual = row[column]
            if column in JSON_COLUMNS and isinstance(value, dict):
                assert actual is not None, f"{column} is null, expected {value}"
                got = json.loads(actual)
                subset = {k: got.get(k) for k in value}
                assert subset == value, f"{column}: {got} does not contain {value}"
            else:
                assert _norm(actual) == _expected_norm(column, value, actual), f"{match} {column}"
    for want in spec.get("rejected", []):
        reasons = [r.reason for r in rejected if want.get("row_number") in (None, r.row_number)]
        assert any(want["reason_contains"] in r for r in reasons), f"no rejection like {want}: {reasons}"


BLANK_DIR = FIXTURES / "blank"
BLANK = json.loads((BLANK_DIR / "MANIFEST.json").read_text(encoding="utf-8"))
_BOOKKEEPING = ["x_FileId", "x_BatchId"]


def _nulls_for_blanks(raw: pa.RecordBatch) -> pa.RecordBatch:
    """The batch with every empty or whitespace-only string made null (plain Python, not the code under test)."""
    arrays = []
    for col in raw.columns:
        if pa.types.is_string(col.type):
            col = pa.array([None if v is not None and not v.strip() else v for v in col.to_pylist()], pa.string())
        arrays.append(col)
    return pa.RecordBatch.from_arrays(arrays, names=raw.schema.names)


def _converted_with_nulls(path: Path) -> pa.Table:
    from cloudops.focus.convert import convert_batch

    conv = open_conversion(path, source=str(path), file_id="golden", block_size=1 << 16)
    batches, offset = [], 0
    for raw in conv.table.batches(lambda _: None):
        if list(raw.schema.names) == conv.table.header:
            raw = raw.rename_columns(conv.renames)
        result = convert_batch(_nulls_for_blanks(raw), conv.rules, file_id="golden", batch_id="b", row_offset=offset)
        offset += raw.num_rows
        batches.append(result.batch)
    return pa.Table.from_batches(batches)


@pytest.mark.parametrize("entry", BLANK, ids=[e["fixture"] for e in BLANK])
def test_blank_fixture_converts_like_nulls(entry: dict[str, Any]) -> None:
    """Empty means null, in every container (fixtures by tests/fixtures/make_blank_fixtures.py).

    Blanks in nullable typed and text columns change nothing but those values (now null): same
    rows, same totals to the cent, no warning.
    """
    path = BLANK_DIR / entry["fixture"]
    conv, table, rejected = convert_all(path)
    base, base_table, base_rejected = convert_all(FIXTURES / entry["base"])
    assert conv.rules.id == base.rules.id == entry["format"]
    assert (conv.rows_in, conv.rows_rejected, conv.focus_rows) == (base.rows_in, base.rows_rejected, base.focus_rows)
    assert [r.row_number for r in rejected] == [r.row_number for r in base_rejected]
    assert conv.source_totals == base.source_totals
    assert conv.converted_totals == base.converted_totals
    assert conv.rejected_totals == base.rejected_totals
    assert conv.warnings == []
    # Exactly the FOCUS rows of the same file with nulls in place of the blanks.
    assert table.drop_columns(_BOOKKEEPING).equals(_converted_with_nulls(path).drop_columns(_BOOKKEEPING))
    # And the blanks did reach FOCUS columns: values the base has are null here.
    assert sum(c.null_count for c in table.columns) > sum(c.null_count for c in base_table.columns)
