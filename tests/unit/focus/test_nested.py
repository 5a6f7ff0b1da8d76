"""cloudops.focus.nested and the engine hooks that use it: ``json_types`` and ``kv_lists`` in rules,
JSON text parsed in ``convert_batch``, and JSON lines read with explicit types."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from cloudops.focus.convert import convert_batch
from cloudops.focus.nested import (
    KV_TYPE,
    arrow_type,
    json_schema,
    nested_paths,
    parse_json_text,
    prepare_nested,
    split_kv_text,
)
from cloudops.focus.rules import FormatRules
from cloudops.sources.readers import open_table

CREDITS = [{"name": "string", "amount": "float64", "type": "string"}]


def test_arrow_type_notation() -> None:
    assert arrow_type("string") == pa.string()
    assert arrow_type("decimal(38, 9)") == pa.decimal128(38, 9)
    assert arrow_type({"a": "int64", "b": ["bool"]}) == pa.struct([("a", pa.int64()), ("b", pa.list_(pa.bool_()))])
    assert arrow_type("timestamp") == pa.timestamp("us", tz="UTC")
    for bad in ("str", "decimal(40,2)", ["string", "int64"], {}, 3):
        with pytest.raises(ValueError, match=r"type|decimal|list|record"):
            arrow_type(bad)


def test_schema_and_paths() -> None:
    types = {"project": {"id": "string", "labels": [{"key": "string", "value": "string"}]}, "cost": "float64"}
    assert json_schema(types).names == ["project", "cost"]
    assert set(nested_paths(types)) == {"project", "project.labels"}


def test_parse_json_text_columnar_and_bad_rows() -> None:
    typ = arrow_type(CREDITS)
    text = pa.array(['[{"name":"a","amount":-0.5,"type":"X"}]', None, "", "[]", '[{"name":"b",\n"amount":1}]'])
    values, bad = parse_json_text(text, typ)
    assert values.type == typ
    assert values.to_pylist() == [
        [{"name": "a", "amount": -0.5, "type": "X"}],
        None,
        None,
        [],
        [{"name": "b", "amount": 1.0, "type": None}],
    ]
    assert not pc.any(bad).as_py()
    broken = pa.array(['[{"name":"a","amount":-0.5}]', "[{", '[{"amount":"lots"}]', '{"name":"x"}'])
    values, bad = parse_json_text(broken, typ)
    assert bad.to_pylist() == [False, True, True, True]
    assert values.to_pylist()[0] == [{"name": "a", "amount": -0.5, "type": None}]
    assert values.to_pylist()[1:] == [None, None, None]


def test_split_kv_text() -> None:
    out = split_kv_text(pa.array(["a:1;b:2", " k : v ; flag ;", None, "", "url:https://x.example/p;"]))
    assert out.type == KV_TYPE
    assert out.to_pylist() == [
        [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}],
        [{"key": "k", "value": "v"}, {"key": "flag", "value": None}],
        None,
        [],
        [{"key": "url", "value": "https://x.example/p"}],
    ]
    assert split_kv_text(pa.array(["a=1|b=2"]), "|", "=").to_pylist() == [
        [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]
    ]


def test_prepare_flattens_a_record_given_as_text() -> None:
    raw = pa.RecordBatch.from_pydict({"price": pa.array(['{"unit":"hour","effective_price":0.5}', None])})
    out, problems = prepare_nested(raw, {"price": {"unit": "string", "effective_price": "decimal(38,9)"}}, {})
    assert problems == []
    assert out.schema.names == ["price.unit", "price.effective_price"]
    assert out.column("price.unit").to_pylist() == ["hour", None]


def _rules(**extra: Any) -> FormatRules:
    base: dict[str, Any] = {
        "id": "t",
        "provider": "test",
        "title": "t",
        "detect": {"all_of": ["cost"]},
        "reconcile": {
            "cost": {"add": ["cost", {"sum_list": {"column": "credits", "field": "amount"}}]},
            "currency": {"const": "USD"},
        },
        "columns": {
            "BilledCost": "cost",
            "EffectiveCost": "cost",
            "ListCost": "cost",
            "ContractedCost": "cost",
            "BillingAccountId": {"const": "acct"},
            "BillingCurrency": {"const": "USD"},
            "BillingPeriodStart": {"const": "2024-03-01T00:00:00Z"},
            "BillingPeriodEnd": {"const": "2024-04-01T00:00:00Z"},
            "ChargePeriodStart": {"const": "2024-03-01T00:00:00Z"},
            "ChargePeriodEnd": {"const": "2024-03-02T00:00:00Z"},
            "ChargeCategory": {"const": "Usage"},
            "InvoiceIssuerName": {"const": "x"},
            "ProviderName": {"const": "x"},
            "PublisherName": {"const": "x"},
            "ServiceProviderName": {"const": "x"},
            "ServiceCategory": {"const": "Other"},
            "ServiceName": {"const": "x"},
        },
        "explode": [
            {
                "name": "credits",
                "list": "credits",
                "columns": {"BilledCost": "item.amount", "ChargeCategory": {"const": "Credit"}},
            }
        ],
    }
    base.update(extra)
    return FormatRules.model_validate(base)


def test_rules_validate_json_types() -> None:
    with pytest.raises(ValueError, match="unknown type"):
        _rules(json_types={"credits": [{"amount": "money"}]})
    with pytest.raises(ValueError, match="at least 1 character"):
        _rules(kv_lists={"tags": {"pairs": ""}})


def test_convert_batch_parses_json_text_and_rejects_bad_rows() -> None:
    rules = _rules(json_types={"credits": CREDITS}, kv_lists={"tags": {}}, tags={"maps": [{"column": "tags"}]})
    raw = pa.RecordBatch.from_pydict(
        {
            "cost": ["1.5", "2", "3"],
            "credits": ['[{"name":"sud","amount":-0.25,"type":"SUSTAINED_USAGE_DISCOUNT"}]', "[]", "[{oops"],
            "tags": ["env:prod", None, "a:b"],
        }
    )
    result = convert_batch(raw, rules, file_id="f", batch_id="b", row_offset=0)
    rows = result.batch.to_pylist()
    assert [(r["x_RowNumber"], r["ChargeCategory"], str(r["BilledCost"].normalize())) for r in rows] == [
        (0, "Usage", "1.5"),
        (1, "Usage", "2"),
        (0, "Credit", "-0.25"),
    ]
    assert json.loads(rows[0]["Tags"]) == {"env": "prod"}
    assert [r.row_number for r in result.rejected] == [2]
    assert "credits: not valid JSON" in result.rejected[0].reason
    # cost + credits read = landed + rejected (the bad row's credits count as none).
    assert result.source_totals == {"USD": pc.sum(result.batch.column("BilledCost")).as_py() + 3}


def test_json_lines_read_with_explicit_types(tmp_path: Path) -> None:
    empty = {"cost": 1.0, "credits": [], "adj": None}
    full = {"cost": 2.0, "credits": [{"name": "c", "amount": -1.0, "type": "T"}], "adj": {"id": "a1"}}
    path = tmp_path / "x.json"
    path.write_text("".join(json.dumps(empty) + "\n" for _ in range(500)) + json.dumps(full) + "\n")
    table = open_table(path, block_size=4096)
    with pytest.raises(Exception, match="changed from null"):  # Arrow alone: types from the first block
        list(table.batches(lambda _: None))
    table = open_table(path, block_size=4096)
    table.use_json_schema(json_schema({"credits": CREDITS, "adj": {"id": "string"}}))
    assert "adj.id" in table.header
    batches = list(table.batches(lambda _: None))
    last = batches[-1].to_pylist()[-1]
    assert last["credits"] == [{"name": "c", "amount": -1.0, "type": "T"}]
    assert last["adj.id"] == "a1"
    assert sum(b.num_rows for b in batches) == 501


def test_use_json_schema_ignores_other_files(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("cost\n1\n")
    table = open_table(path)
    table.use_json_schema(json_schema({"credits": CREDITS}))
    assert table.json_schema is None
    assert table.header == ["cost"]
