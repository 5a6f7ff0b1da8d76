"""`cloudops convert` prints warnings per FOCUS column and totals as money (issue 10)."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cloudops.cli import app
from cloudops.schemas.money import money_text, totals_text

AWS = Path(__file__).parents[2] / "fixtures" / "aws"


def _convert(tmp_path: Path, *files: Path) -> str:
    out = tmp_path / "out.parquet"
    result = CliRunner().invoke(app, ["convert", *map(str, files), "-o", str(out)], env={"COLUMNS": "500"})
    assert result.exit_code == 0, result.output
    return result.output


def test_convert_table_lists_warnings_and_money(tmp_path: Path) -> None:
    output = _convert(tmp_path, AWS / "cur2_bad_rates.parquet")
    assert "warnings (left null)" in output
    assert "ContractedUnitPrice 2 (line_item_unblended_rate: '-')" in output
    assert "ListUnitPrice 2 (pricing_public_on_demand_rate: 'N/A')" in output
    assert "USD 856.31" in output
    assert "USD 856.264" in output
    # The rejected rows are named with their source column and value.
    assert "line_item_unblended_rate: '0.O23'" in output
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 15


def test_convert_empty_string_rates_land_with_no_warning(tmp_path: Path) -> None:
    output = _convert(tmp_path, AWS / "cur2_empty_strings.parquet")
    assert "USD 855.79" in output
    assert "E-10" not in output
    table = pq.read_table(tmp_path / "out.parquet")
    assert set(table.column("ChargeCategory").to_pylist()) >= {"Tax", "Credit"}


def test_zero_total_prints_as_money(tmp_path: Path) -> None:
    # A file whose costs sum to exactly zero used to print "USD 0E-10".
    with (AWS / "cur_synthetic.csv").open(encoding="utf-8", newline="") as fh:
        header, first, *_ = list(csv.reader(fh))
    first[header.index("lineItem/UnblendedCost")] = "0.0000000000"
    path = tmp_path / "zero.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, first])
    output = _convert(tmp_path, path)
    assert "USD 0.00" in output
    assert "0E-10" not in output


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("0E-10"), "0.00"),
        (Decimal("-0E-10"), "0.00"),
        (Decimal("855.7900000000"), "855.79"),
        (Decimal("1.6823086974"), "1.6823086974"),
        (Decimal("131.251"), "131.251"),
        (Decimal("1E+3"), "1000.00"),
        (Decimal("-5.5"), "-5.50"),
        ("12.30", "12.30"),
        (7, "7.00"),
    ],
)
def test_money_text(amount: object, text: str) -> None:
    assert money_text(amount) == text


def test_totals_text() -> None:
    assert totals_text({"USD": Decimal("0E-10"), "EUR": Decimal("2.5000000000")}) == "EUR 2.50, USD 0.00"
    assert totals_text({}) == "-"


def test_records_write_money_in_plain_notation() -> None:
    from cloudops.schemas.events import BillingLoaded
    from cloudops.schemas.money import decimal_text

    assert decimal_text(Decimal("0E-10")) == "0.0000000000"
    assert decimal_text(Decimal("1.6823086974")) == "1.6823086974"
    receipt = BillingLoaded(
        tenant="t",
        file_id="f",
        file_url="file:///x",
        format="aws-cur",
        rows_in=1,
        rows_rejected=0,
        rows_landed=1,
        batches=1,
        source_totals={"USD": Decimal("0E-10")},
        rejected_totals={},
        landed_totals={"USD": Decimal("0E-10")},
        reconciled=True,
    )
    doc = receipt.model_dump(mode="json")
    assert doc["source_totals"] == doc["landed_totals"] == {"USD": "0.0000000000"}
    assert doc["warnings"] == []
    # A v1 receipt written before `warnings` existed still decodes (as no warnings).
    old = {k: v for k, v in doc.items() if k != "warnings"}
    assert BillingLoaded.model_validate(old).warnings == []
