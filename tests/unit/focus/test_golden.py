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

from cloudops.sources.converter import open_conversion

FIXTURES = Path(__file__).parents[2] / "fixtures"
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
    if column in ("Tags", "SkuPriceDetails", "x_Extensions") and isinstance(value, dict):
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

    rows = table.to_pylist() if table is not None else []
    for want in spec.get("rows", []):
        match = want.get("match", {"x_RowNumber": want.get("x_RowNumber")})
        found = [r for r in rows if all(_norm(r.get(k)) == v for k, v in match.items())]
        assert found, f"no FOCUS row matches {match}"
        row = found[0]
        for column, value in want["columns"].items():
            actual = row[column]
            if column in ("Tags", "SkuPriceDetails", "x_Extensions") and isinstance(value, dict):
                assert actual is not None, f"{column} is null, expected {value}"
                got = json.loads(actual)
                subset = {k: got.get(k) for k in value}
                assert subset == value, f"{column}: {got} does not contain {value}"
            else:
                assert _norm(actual) == _expected_norm(column, value, actual), f"{match} {column}"
    for want in spec.get("rejected", []):
        reasons = [r.reason for r in rejected if want.get("row_number") in (None, r.row_number)]
        assert any(want["reason_contains"] in r for r in reasons), f"no rejection like {want}: {reasons}"
