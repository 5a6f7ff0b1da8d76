"""Empty means null, and an unreadable optional value is a warning, not a rejection.

cloudops.focus.convert with cloudops.focus.quality: blank text in any typed or text column is
no value; a row is rejected only when a value FOCUS makes mandatory for it (a cost, a
never-null column, a column required on Usage/Purchase rows, the reconcile cost) cannot be
read, and the reason names the source column and shows its value.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from cloudops.focus.columns import FOCUS_COLUMNS
from cloudops.focus.convert import ConversionResult, convert_batch
from cloudops.focus.quality import merge_warnings
from cloudops.focus.rules import FormatRules
from cloudops.schemas.events import ColumnWarning

D = Decimal
MANDATORY = [c.name for c in FOCUS_COLUMNS if not c.nullable]


def _rules(**reconcile: Any) -> FormatRules:
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
            "ChargePeriodStart": "start",
            "ChargePeriodEnd": "end",
            "ChargeCategory": "category",
            "ChargeClass": "class",
            "ServiceName": "service",
            "ContractedUnitPrice": "rate",
            "ListUnitPrice": {"coalesce": ["list_rate", "rate"]},
            "ConsumedQuantity": "qty",
            "RegionId": "region",
        }
    )
    doc = {
        "id": "quality-test",
        "provider": "aws",
        "title": "Quality test",
        "detect": {"all_of": ["cost", "cur"]},
        "reconcile": reconcile or {"cost": "cost", "currency": "cur"},
        "columns": columns,
    }
    return FormatRules.model_validate(doc)


RULES = _rules()


def _batch(rows: list[dict[str, Any]], types: dict[str, pa.DataType] | None = None) -> pa.RecordBatch:
    base = {
        "cost": "1.5",
        "cur": "USD",
        "month": "202401",
        "start": "2024-01-05T00:00:00Z",
        "end": "2024-01-05T01:00:00Z",
        "category": "Usage",
        "class": None,
        "service": "EC2",
        "rate": "0.5",
        "list_rate": "0.6",
        "qty": "3",
        "region": "us-east-1",
        "bill_cost": "1.5",
    }
    full = [{**base, **r} for r in rows]
    types = types or {}
    return pa.RecordBatch.from_pydict({k: pa.array([r[k] for r in full], types.get(k, pa.string())) for k in base})


def _convert(raw: pa.RecordBatch, rules: FormatRules = RULES) -> ConversionResult:
    return convert_batch(raw, rules, file_id="f", batch_id="b", row_offset=0)


def _rows(res: ConversionResult) -> list[dict[str, Any]]:
    return res.batch.to_pylist()


_OPTIONAL = ("rate", "list_rate", "qty", "class", "region")


@pytest.mark.parametrize("blank", ["", " ", "\t", "  \u00a0"])
@pytest.mark.parametrize("category", ["Usage", "Tax", "Credit"])
def test_blank_optional_values_are_null_like_missing_ones(blank: str, category: str) -> None:
    blanks = _convert(_batch([{"category": category, **dict.fromkeys(_OPTIONAL, blank)}]))
    nulls = _convert(_batch([{"category": category, **dict.fromkeys(_OPTIONAL)}]))
    assert blanks.rejected == nulls.rejected == []
    assert blanks.warnings == nulls.warnings == []
    assert blanks.batch.equals(nulls.batch)
    row = _rows(blanks)[0]
    for name in ("ContractedUnitPrice", "ListUnitPrice", "ConsumedQuantity", "ChargeClass", "RegionId"):
        assert row[name] is None, name
    assert blanks.source_totals == {"USD": D("1.5")}


def test_blank_first_choice_falls_through_to_the_next() -> None:
    (row,) = _rows(_convert(_batch([{"list_rate": "  ", "rate": "0.25"}])))
    assert row["ListUnitPrice"] == D("0.25")


def test_blank_dictionary_and_large_text_columns() -> None:
    raw = _batch(
        [{"rate": ""}, {"rate": " "}, {"rate": "0.5"}],
        types={"rate": pa.large_string(), "qty": pa.string()},
    )
    assert [r["ContractedUnitPrice"] for r in _rows(_convert(raw))] == [None, None, D("0.5")]
    table = pa.Table.from_batches([_batch([{"rate": ""}, {"rate": "0.5"}])])
    encoded = table.set_column(
        table.schema.get_field_index("rate"), "rate", table.column("rate").dictionary_encode()
    ).to_batches()[0]
    res = _convert(encoded)
    assert res.rejected == []
    assert res.warnings == []
    assert [r["ContractedUnitPrice"] for r in _rows(res)] == [None, D("0.5")]


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_mandatory_value_is_missing(blank: str) -> None:
    res = _convert(_batch([{"service": blank}, {"cost": blank}]))
    assert [(r.row_number, r.reason) for r in res.rejected] == [
        (0, "ServiceName: mandatory value missing (from service)"),
        (1, "BilledCost: mandatory value missing (from cost)"),
    ]


def test_blank_datetime_is_missing_not_unreadable() -> None:
    (rej,) = _convert(_batch([{"start": " "}])).rejected
    assert rej.reason == "ChargePeriodStart: mandatory value missing (from start)"


def test_unreadable_optional_value_lands_null_with_a_warning() -> None:
    rows = [
        {"category": "Tax", "rate": "n/a", "list_rate": None},
        {"category": "Credit", "rate": "-", "list_rate": None},
        {"category": "Tax", "qty": "several"},
        {"category": "Usage", "class": "Correction", "rate": "n/a", "list_rate": "0.6"},
        {"category": "Tax"},
    ]
    res = _convert(_batch(rows))
    assert res.rejected == []
    out = _rows(res)
    assert [r["ContractedUnitPrice"] for r in out] == [None, None, D("0.5"), None, D("0.5")]
    assert [r["ListUnitPrice"] for r in out] == [None, None, D("0.6"), D("0.6"), D("0.6")]
    assert out[2]["ConsumedQuantity"] is None
    assert [r["BilledCost"] for r in out] == [D("1.5")] * 5
    assert res.warnings == [
        ColumnWarning(
            column="ConsumedQuantity", source="qty", reason="not a valid decimal value", rows=1, sample="several"
        ),
        ColumnWarning(
            column="ContractedUnitPrice", source="rate", reason="not a valid decimal value", rows=3, sample="n/a"
        ),
        ColumnWarning(column="ListUnitPrice", source="rate", reason="not a valid decimal value", rows=2, sample="n/a"),
    ]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"rate": "n/a"}, "ContractedUnitPrice: not a valid decimal value in rate: 'n/a'"),
        ({"category": "Purchase", "rate": "0,5"}, "ContractedUnitPrice: not a valid decimal value in rate: '0,5'"),
        ({"qty": "lots"}, "ConsumedQuantity: not a valid decimal value in qty: 'lots'"),
        ({"list_rate": "?"}, "ListUnitPrice: not a valid decimal value in list_rate: '?'"),
        ({"cost": "NaN"}, "BilledCost: not a valid decimal value in cost: 'NaN'"),
        ({"start": "yesterday"}, "ChargePeriodStart: not a valid datetime value in start: 'yesterday'"),
        ({"month": "2024-13"}, "BillingPeriodEnd: not a valid datetime value in month: '2024-13'"),
    ],
)
def test_unreadable_value_mandatory_for_the_row_rejects_it_naming_source_and_value(
    row: dict[str, Any], reason: str
) -> None:
    res = _convert(_batch([{}, row]))
    assert [(r.row_number, r.reason) for r in res.rejected] == [(1, reason)]
    assert res.warnings == []
    assert res.batch.num_rows == 1


def test_nan_cost_in_a_float_column_is_named_with_its_value() -> None:
    raw = _batch([{"cost": 1.5}, {"cost": float("nan"), "rate": ""}], types={"cost": pa.float64()})
    res = _convert(raw)
    assert [r.reason for r in res.rejected] == ["BilledCost: not a valid decimal value in cost: 'nan'"]
    assert res.source_totals == {"USD": D("1.5")}
    assert res.rejected_totals == {}


def test_unreadable_reconcile_cost_rejects_the_row() -> None:
    rules = _rules(cost="bill_cost", currency="cur")
    res = _convert(_batch([{}, {"bill_cost": "twelve"}]), rules)
    assert [(r.row_number, r.reason) for r in res.rejected] == [
        (1, "reconcile cost: not a valid decimal value in bill_cost: 'twelve'")
    ]
    # Reconciles: the unreadable cost is counted nowhere, the landed row everywhere.
    assert res.source_totals == {"USD": D("1.5")}
    assert res.rejected_totals == {}


def test_rejected_rows_count_no_warnings() -> None:
    res = _convert(_batch([{"category": "Tax", "rate": "n/a", "cost": "bad"}]))
    assert len(res.rejected) == 1
    assert res.warnings == []


def test_warning_sample_is_truncated() -> None:
    res = _convert(_batch([{"category": "Tax", "rate": "x" * 200}]))
    (warning, *_) = res.warnings
    assert warning.sample == "x" * 60


def test_merge_warnings_adds_rows_and_keeps_the_first_sample() -> None:
    a = ColumnWarning(column="ListUnitPrice", source="r", reason="bad", rows=2, sample="n/a")
    b = ColumnWarning(column="ListUnitPrice", source="r", reason="bad", rows=3, sample="-")
    c = ColumnWarning(column="ConsumedQuantity", source="q", reason="bad", rows=1, sample=None)
    assert merge_warnings([a], [b, c]) == [c, a.model_copy(update={"rows": 5})]


def test_rejected_raw_record_stays_valid_json_with_nan() -> None:
    import json

    raw = _batch([{"cost": float("nan")}, {"cost": float("inf")}], types={"cost": pa.float64()})
    res = _convert(raw)
    assert [json.loads(r.raw)["cost"] for r in res.rejected] == ["nan", "inf"]
    for r in res.rejected:
        json.loads(r.raw, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))


def test_unreadable_optional_json_is_a_warning_mandatory_json_rejects(tmp_path: Path) -> None:
    import csv
    import gzip

    from cloudops.sources.converter import open_conversion

    fixture = Path(__file__).parents[2] / "fixtures" / "aws" / "cur2_sample_csv.csv.gz"
    with gzip.open(fixture, "rt", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    rows[1][header.index("resource_tags")] = "{not json"  # tags are optional: lands, Tags null, a warning
    rows[2][header.index("cost_category")] = "[1, 2]"  # kept in x_Extensions only: a warning
    rows[3][header.index("product")] = "{broken"  # product names the service (mandatory): rejected
    out = tmp_path / "cur2.csv"
    with out.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    conv = open_conversion(out, source="s", file_id="f", block_size=1 << 16)
    landed, rejected = [], []
    for result, malformed in conv.chunks():
        rejected += malformed
        if result is not None:
            landed += result.batch.to_pylist()
            rejected += result.rejected
    assert [(r.row_number, r.reason) for r in rejected] == [(2, "product: not a JSON object")]
    assert next(r for r in landed if r["x_RowNumber"] == 0)["Tags"] is None
    assert [(w.column, w.source, w.reason, w.rows, w.sample) for w in conv.warnings] == [
        ("Tags", "resource_tags", "not a JSON object", 1, "{not json"),
        ("x_Extensions", "cost_category", "not a JSON object", 1, "[1, 2]"),
    ]
    for cur, total in conv.source_totals.items():
        assert total == conv.converted_totals.get(cur, 0) + conv.rejected_totals.get(cur, 0)


def test_orc_string_columns_with_empty_strings_convert_like_parquet(tmp_path: Path) -> None:
    """ORC holds "" in string columns like Parquet: empty means null there too."""
    import pyarrow.orc as orc
    import pyarrow.parquet as pq

    from cloudops.sources.converter import open_conversion

    parquet = Path(__file__).parents[2] / "fixtures" / "aws" / "cur2_empty_strings.parquet"
    table = pq.read_table(parquet)
    flat = table.select([f.name for f in table.schema if not pa.types.is_map(f.type)])  # ORC maps: not needed
    orc_path, pq_path = tmp_path / "cur2.orc", tmp_path / "cur2.parquet"
    orc.write_table(flat, orc_path, stripe_size=4096)
    pq.write_table(flat, pq_path)
    out = {}
    for path in (orc_path, pq_path):
        conv = open_conversion(path, source=str(path), file_id="f", block_size=1 << 16)
        batches = [r.batch for r, _ in conv.chunks() if r is not None]
        assert conv.rules.id == "aws-cur2"
        assert (conv.rows_in, conv.rows_rejected, conv.warnings) == (15, 0, [])
        out[path.suffix] = (pa.Table.from_batches(batches).drop_columns(["x_BatchId"]), conv.source_totals)
    assert out[".orc"][1] == out[".parquet"][1] == {"USD": Decimal("855.79")}
    assert out[".orc"][0].equals(out[".parquet"][0])
    tax = [r for r in out[".orc"][0].to_pylist() if r["ChargeCategory"] == "Tax"]
    assert [(r["BilledCost"], r["ContractedUnitPrice"], r["ListUnitPrice"]) for r in tax] == [
        (Decimal("12.34"), None, None)
    ]
