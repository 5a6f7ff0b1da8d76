"""cloudops.sources.converter: header aliases, required columns and file-level counters and totals.

The packaged rules are swapped for small inline ones (``detect_format`` reads them through
``load_all_rules``), so each test controls aliases, required columns and explode blocks.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cloudops.focus.detect as detect
from cloudops.errors import BadDataError
from cloudops.focus.columns import FOCUS_COLUMNS
from cloudops.focus.rules import FormatRules
from cloudops.sources.converter import FileConversion, open_conversion

D = Decimal
MANDATORY = [c.name for c in FOCUS_COLUMNS if not c.nullable]


def rules_doc(**overrides: Any) -> dict[str, Any]:
    columns: dict[str, Any] = {name: {"const": "x"} for name in MANDATORY}
    columns.update(
        {
            "BilledCost": "cost",
            "ContractedCost": "cost",
            "EffectiveCost": "cost",
            "ListCost": "cost",
            "BillingCurrency": "cur",
            "BillingPeriodStart": {"month_start": "month"},
            "BillingPeriodEnd": {"month_end": "month"},
            "ChargePeriodStart": {"from": "start", "required": True},
            "ChargePeriodEnd": "end",
            "BillingAccountId": "account",
            "ChargeCategory": {"const": "Usage"},
            "ChargeDescription": "desc",
        }
    )
    columns.update(overrides.pop("columns", {}))
    doc: dict[str, Any] = {
        "id": "conv-test",
        "provider": "test",
        "title": "Converter test",
        "detect": {"all_of": ["cost", "cur"]},
        "aliases": {
            "cost": ["Kosten", "Cost (USD)"],
            "cur": ["Währung", "currency"],
            "account": ["Account ID", "Konto"],
            "start": ["Usage Start"],
        },
        "reconcile": {"cost": "cost", "currency": "cur"},
        "columns": columns,
    }
    doc.update(overrides)
    return doc


EXPLODE = {
    "explode": [
        {
            "name": "credits",
            "list": "credits",
            "columns": {
                "BilledCost": "item.amount",
                "EffectiveCost": "item.amount",
                "ListCost": {"const": "0"},
                "ContractedCost": {"const": "0"},
                "ChargeCategory": {"const": "Credit"},
                "ChargeDescription": "item.name",
            },
        }
    ],
    "reconcile": {"cost": {"add": ["cost", {"sum_list": {"column": "credits", "field": "amount"}}]}, "currency": "cur"},
}


@pytest.fixture
def use_rules(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``use_rules(doc, ...)``: detection sees only these rules (highest priority first)."""

    def install(*docs: dict[str, Any]) -> tuple[FormatRules, ...]:
        rules = tuple(sorted((FormatRules.model_validate(d) for d in docs), key=lambda r: -r.priority))
        monkeypatch.setattr(detect, "load_all_rules", lambda: rules)
        return rules

    return install


def csv_file(
    tmp_path: Path, header: list[str], rows: list[list[str]], name: str = "bill.csv", bom: bool = False
) -> Path:
    lines = [",".join(header)] + [",".join(r) for r in rows]
    data = ("\n".join(lines) + "\n").encode()
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def run(path: Path, block_size: int = 1 << 20, source: str = "s3://bills/file") -> tuple[FileConversion, list[dict]]:
    conv = open_conversion(path, source=source, file_id="fid", block_size=block_size)
    rows: list[dict] = []
    for result, _malformed in conv.chunks():
        if result is not None:
            rows += result.batch.to_pylist()
    return conv, rows


ROW = ["2.5", "EUR", "202401", "2024-01-03T00:00:00Z", "2024-01-03T01:00:00Z", "acct"]


# --------------------------------------------------------------------------- aliases


def test_aliases_rename_columns_case_insensitively(tmp_path: Path, use_rules: Any) -> None:
    use_rules(rules_doc())
    header = ["KOSTEN", "währung", "month", "usage start", "end", "account id"]
    conv, rows = run(csv_file(tmp_path, header, [ROW]))
    assert conv.header == header  # the file's own names
    assert conv.renames == ["cost", "cur", "month", "start", "end", "account"]
    assert [(r["BilledCost"], r["BillingCurrency"], r["BillingAccountId"]) for r in rows] == [(D("2.5"), "EUR", "acct")]
    assert conv.source_totals == {"EUR": D("2.5")}


def test_canonical_names_in_another_case_are_renamed_too(tmp_path: Path, use_rules: Any) -> None:
    use_rules(rules_doc())
    header = ["Cost", "CUR", "month", "Start", "end", "Account"]
    conv, rows = run(csv_file(tmp_path, header, [ROW]))
    assert conv.renames == ["cost", "cur", "month", "start", "end", "account"]
    assert rows[0]["BillingAccountId"] == "acct"


def test_aliases_with_byte_order_mark_and_spaces(tmp_path: Path, use_rules: Any) -> None:
    use_rules(rules_doc())
    header = ["Cost (USD)", " Currency ", "month", "Usage Start", "end", "Konto"]
    conv, rows = run(csv_file(tmp_path, header, [ROW], bom=True))
    assert conv.renames == ["cost", "cur", "month", "start", "end", "account"]
    assert rows[0]["BilledCost"] == D("2.5")
    assert rows[0]["ChargePeriodStart"].isoformat() == "2024-01-03T00:00:00+00:00"


def test_bom_left_on_a_header_name_is_stripped(tmp_path: Path, use_rules: Any) -> None:
    # A byte-order mark the reader did not strip (e.g. doubled) still does not hide the column.
    use_rules(rules_doc())
    header = ["\ufeffKosten", "cur", "month", "start", "end", "account"]
    path = tmp_path / "b.csv"
    path.write_bytes(("\ufeff" + ",".join(header) + "\n" + ",".join(ROW) + "\n").encode())
    conv, rows = run(path)
    assert conv.renames[0] == "cost"
    assert rows[0]["BilledCost"] == D("2.5")


def test_two_header_names_for_the_same_field(tmp_path: Path, use_rules: Any) -> None:
    use_rules(rules_doc())
    header = ["cost", "Kosten", "cur", "month", "start", "end", "account"]
    with pytest.raises(BadDataError, match="two header columns mean the same field after aliasing") as err:
        open_conversion(csv_file(tmp_path, header, []), source="s3://bills/dup.csv", file_id="f", block_size=1 << 20)
    assert err.value.source == "s3://bills/dup.csv"


def test_same_name_in_two_cases_is_the_same_field(tmp_path: Path, use_rules: Any) -> None:
    use_rules(rules_doc())
    header = ["cost", "COST", "cur", "month", "start", "end", "account"]
    with pytest.raises(BadDataError, match="two header columns mean the same field"):
        open_conversion(csv_file(tmp_path, header, []), source="s", file_id="f", block_size=1 << 20)


def test_aliases_apply_to_flattened_json_names(tmp_path: Path, use_rules: Any) -> None:
    use_rules(rules_doc(aliases={"account": ["Billing.Account"], "cost": ["Kosten"]}))
    line = {
        "Kosten": 1.25,
        "cur": "USD",
        "month": "202402",
        "start": "2024-02-01T00:00:00Z",
        "end": "2024-02-01T01:00:00Z",
        "billing": {"account": "b-1"},
    }
    path = tmp_path / "a.json"
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    conv, rows = run(path)
    assert conv.table.header == ["Kosten", "cur", "month", "start", "end", "billing.account"]
    assert conv.renames == ["cost", "cur", "month", "start", "end", "account"]
    assert [(r["BilledCost"], r["BillingAccountId"]) for r in rows] == [(D("1.25"), "b-1")]


def test_aliases_apply_to_every_zip_member(tmp_path: Path, use_rules: Any) -> None:
    use_rules(rules_doc())
    header = "Kosten,Währung,month,start,end,Konto\n".encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("b.csv", header + b"2,CNY,202401,2024-01-02T00:00:00Z,2024-01-02T01:00:00Z,k2\n")
        zf.writestr("a.csv", header + b"1,CNY,202401,2024-01-01T00:00:00Z,2024-01-01T01:00:00Z,k1\n")
    path = tmp_path / "bill.zip"
    path.write_bytes(buf.getvalue())
    conv, rows = run(path)
    assert [(r["x_RowNumber"], r["BillingAccountId"], r["BilledCost"]) for r in rows] == [
        (0, "k1", D(1)),
        (1, "k2", D(2)),
    ]
    assert conv.source_totals == conv.converted_totals == {"CNY": D(3)}


# --------------------------------------------------------------------------- required columns and detection


def test_missing_required_columns_are_listed(tmp_path: Path, use_rules: Any) -> None:
    use_rules(rules_doc(columns={"BillingAccountId": {"from": "account", "required": True}}))
    path = csv_file(tmp_path, ["cost", "cur", "month", "end"], [])
    with pytest.raises(BadDataError) as err:
        open_conversion(path, source="s3://bills/m.csv", file_id="f", block_size=1 << 20)
    assert err.value.reason == "missing required columns for conv-test: account, start"
    assert err.value.source == "s3://bills/m.csv"


def test_required_column_present_under_an_alias(tmp_path: Path, use_rules: Any) -> None:
    use_rules(rules_doc())
    conv = open_conversion(
        csv_file(tmp_path, ["cost", "cur", "Usage Start"], []), source="s", file_id="f", block_size=1 << 20
    )
    assert conv.rules.id == "conv-test"


def test_detection_uses_aliases_and_priority(tmp_path: Path, use_rules: Any) -> None:
    low = rules_doc(id="low", priority=1)
    high = rules_doc(id="high", priority=5, detect={"all_of": ["cost", "cur", "account"]})
    use_rules(low, high)
    with_account = csv_file(tmp_path, ["Kosten", "Währung", "Konto", "start"], [], name="a.csv")
    without = csv_file(tmp_path, ["Kosten", "Währung", "start"], [], name="b.csv")
    assert open_conversion(with_account, source="s", file_id="f", block_size=1 << 20).rules.id == "high"
    assert open_conversion(without, source="s", file_id="f", block_size=1 << 20).rules.id == "low"


def test_unknown_header(tmp_path: Path, use_rules: Any) -> None:
    use_rules(rules_doc())
    with pytest.raises(BadDataError, match=r"unknown billing format: header \[price, currency_code\]"):
        open_conversion(csv_file(tmp_path, ["price", "currency_code"], []), source="s", file_id="f", block_size=1024)


# --------------------------------------------------------------------------- counters and totals with explode


def credits_lines() -> list[dict[str, Any]]:
    base = {"month": "202401", "start": "2024-01-01T00:00:00Z", "end": "2024-01-01T01:00:00Z", "desc": "vm"}
    return [
        {**base, "cost": "10", "cur": "USD", "account": "a", "credits": [{"name": "c1", "amount": "-1"}]},
        {**base, "cost": "5", "cur": "USD", "account": "b", "credits": []},
        {
            **base,
            "cost": "7",
            "cur": "EUR",
            "account": "c",
            "credits": [{"name": "c2", "amount": "-2"}, {"name": "c3", "amount": "-3"}],
        },
        {**base, "cost": "4", "cur": "USD", "account": "d", "credits": [{"name": "c4", "amount": "oops"}]},
        {**base, "cost": "3", "cur": "EUR", "account": None, "credits": [{"name": "c5", "amount": "-0.5"}]},
        {**base, "cost": "1.5", "cur": "USD", "account": "f", "credits": [{"name": "c6", "amount": "-0.25"}]},
    ]


def write_credits(tmp_path: Path, kind: str) -> Path:
    lines = credits_lines()
    if kind == "parquet":
        path = tmp_path / "credits.parquet"
        pq.write_table(pa.Table.from_pylist(lines), path, row_group_size=2)
        return path
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    path = tmp_path / "credits.json"
    path.write_bytes(gzip.compress(data) if kind == "jsonl.gz" else data)
    return path


@pytest.mark.parametrize("kind", ["jsonl", "jsonl.gz", "parquet"])
@pytest.mark.parametrize("block_size", [1 << 20, 200])
def test_counters_and_totals_with_explode(tmp_path: Path, use_rules: Any, kind: str, block_size: int) -> None:
    use_rules(rules_doc(**EXPLODE))
    conv, rows = run(write_credits(tmp_path, kind), block_size=block_size)
    assert conv.table.kind == kind
    assert conv.rows_in == 6
    assert conv.rows_rejected == 2  # row 3 (bad credit amount) and row 4 (no account)
    assert conv.rows_converted == 4
    assert conv.focus_rows == 4 + 4  # 4 usage rows + credits c1, c2, c3, c6
    assert len(rows) == conv.focus_rows
    assert sorted((r["x_RowNumber"], r["ChargeCategory"], r["BilledCost"]) for r in rows) == [
        (0, "Credit", D("-1")),
        (0, "Usage", D("10")),
        (1, "Usage", D("5")),
        (2, "Credit", D("-3")),
        (2, "Credit", D("-2")),
        (2, "Usage", D("7")),
        (5, "Credit", D("-0.25")),
        (5, "Usage", D("1.5")),
    ]
    # Row 3's cost cannot be read (its credit is unreadable): in no total. Row 4's is rejected.
    assert conv.source_totals == {"USD": D("15.25"), "EUR": D("4.5")}
    assert conv.converted_totals == {"USD": D("15.25"), "EUR": D("2")}
    assert conv.rejected_totals == {"EUR": D("2.5")}
    for cur, total in conv.source_totals.items():
        assert total == conv.converted_totals.get(cur, D(0)) + conv.rejected_totals.get(cur, D(0))


def test_rejected_rows_carry_reasons_and_file_row_numbers(tmp_path: Path, use_rules: Any) -> None:
    use_rules(rules_doc(**EXPLODE))
    conv = open_conversion(write_credits(tmp_path, "jsonl"), source="s", file_id="fid", block_size=200)
    rejected = [r for result, _ in conv.chunks() if result is not None for r in result.rejected]
    assert [(r.row_number, r.reason) for r in rejected] == [
        (3, "credits: BilledCost: not a valid decimal value in item.amount: 'oops'"),
        (4, "BillingAccountId: mandatory value missing (from account)"),
    ]


def test_counters_without_explode_match_rows(tmp_path: Path, use_rules: Any) -> None:
    use_rules(rules_doc())
    rows_in = [
        ["1", "USD", "202401", "2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z", "a"],
        ["x", "USD", "202401", "2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z", "b"],
        ["2", "USD", "2024-13", "2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z", "c"],
        ["3", "JPY", "202401", "2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z", "d"],
    ]
    header = ["cost", "cur", "month", "start", "end", "account"]
    conv, _rows = run(csv_file(tmp_path, header, rows_in), block_size=64)
    assert (conv.rows_in, conv.rows_converted, conv.rows_rejected, conv.focus_rows) == (4, 2, 2, 2)
    assert conv.source_totals == {"USD": D(3), "JPY": D(3)}
    assert conv.converted_totals == {"USD": D(1), "JPY": D(3)}
    assert conv.rejected_totals == {"USD": D(2)}  # "x" cannot be read; the bad month's row had cost 2


def test_empty_file_body_gives_zero_counters(tmp_path: Path, use_rules: Any) -> None:
    use_rules(rules_doc())
    conv, rows = run(csv_file(tmp_path, ["cost", "cur", "start"], []))
    assert rows == []
    assert (conv.rows_in, conv.rows_converted, conv.rows_rejected, conv.focus_rows) == (0, 0, 0, 0)
    assert conv.source_totals == conv.converted_totals == conv.rejected_totals == {}
