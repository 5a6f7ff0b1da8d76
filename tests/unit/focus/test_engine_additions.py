"""Engine features added for the AWS CUR 2.0 / FOCUS formats.

``detect.any_of``, rules ``null_values`` and ``json_maps``, ``tags.maps[].rename_prefixes``,
map columns kept in ``x_Extensions`` as JSON text, and ``json_object_map``.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest

from cloudops.errors import BadDataError
from cloudops.focus.columns import FOCUS_COLUMNS
from cloudops.focus.convert import convert_batch
from cloudops.focus.detect import detect_format
from cloudops.focus.rules import FormatRules
from cloudops.focus.values import json_object_map, kv_json_body

TEXT_MAP = pa.map_(pa.string(), pa.string())


def _rules(**extra: Any) -> FormatRules:
    doc: dict[str, Any] = {
        "id": "t",
        "provider": "focus",
        "title": "t",
        "detect": {"all_of": ["cost"]},
        "reconcile": {"cost": "cost", "currency": "cur"},
        "columns": {c.name: {"const": "1"} for c in FOCUS_COLUMNS if not c.nullable},
    }
    doc["columns"].update(
        {
            "BilledCost": "cost",
            "BillingCurrency": "cur",
            "BillingPeriodStart": {"const": "2024-01-01T00:00:00Z"},
            "BillingPeriodEnd": {"const": "2024-02-01T00:00:00Z"},
            "ChargePeriodStart": {"const": "2024-01-01T00:00:00Z"},
            "ChargePeriodEnd": {"const": "2024-01-02T00:00:00Z"},
        }
    )
    for key, value in extra.items():
        if key == "columns":
            doc["columns"].update(value)
        else:
            doc[key] = value
    return FormatRules.model_validate(doc)


def _convert(rules: FormatRules, batch: pa.RecordBatch) -> Any:
    return convert_batch(batch, rules, file_id="f", batch_id="b", row_offset=0)


# --- detect.any_of ------------------------------------------------------------------------------


def _detect_rules(rid: str, all_of: list[str], any_of: list[str], none_of: list[str] | None = None) -> FormatRules:
    return _rules(id=rid, detect={"all_of": all_of, "any_of": any_of, "none_of": none_of or []})


def test_any_of_needs_one_of_its_columns() -> None:
    rules = [_detect_rules("v2", ["a"], ["x", "y"])]
    assert detect_format(["a", "y"], rules=rules).id == "v2"
    assert detect_format(["a", "x", "y"], rules=rules).id == "v2"
    with pytest.raises(BadDataError, match="unknown billing format"):
        detect_format(["a", "z"], rules=rules)


def test_any_of_empty_means_no_condition_and_combines_with_none_of() -> None:
    rules = [_detect_rules("v2", ["a"], ["x"]), _detect_rules("v1", ["a"], [], ["x"])]
    assert detect_format(["a"], rules=rules).id == "v1"
    assert detect_format(["a", "x"], rules=rules).id == "v2"


# --- json_object_map ----------------------------------------------------------------------------


def test_json_object_map_columnar_keeps_text_exactly() -> None:
    arr = pa.array(
        [
            '{"user_team": "web", "d": "2024-01-01", "t": "2024-01-01T00:00:00Z"}',
            None,
            "{}",
            ' {"n": 1.5, "b": true, "z": null}\n',
            '{"a":\n "multi line"}',
        ]
    )
    maps, bad = json_object_map(arr)
    assert maps.type == TEXT_MAP
    assert bad.to_pylist() == [False] * 5
    assert maps.to_pylist() == [
        [("user_team", "web"), ("d", "2024-01-01"), ("t", "2024-01-01T00:00:00Z")],
        None,
        [],
        [("n", "1.5"), ("b", "true")],
        [("a", "multi line")],
    ]


def test_json_object_map_bad_rows_and_nested_values() -> None:
    arr = pa.array(['{"a": {"x": 1}}', "not json", "[1, 2]", None, '{"k": "v", "e": "caf\\u00e9"}', ""])
    maps, bad = json_object_map(arr)
    assert bad.to_pylist() == [False, True, True, False, False, True]
    assert maps.to_pylist() == [[("a", '{"x": 1}')], None, None, None, [("k", "v"), ("e", "café")], None]


def test_json_object_map_passes_maps_through() -> None:
    arr = pa.array([[("a", 1.5)], None], pa.map_(pa.string(), pa.float64()))
    maps, bad = json_object_map(arr)
    assert maps is arr
    assert bad.to_pylist() == [False, False]
    nulls, _ = json_object_map(pa.nulls(2))
    assert nulls.type == TEXT_MAP
    assert nulls.null_count == 2


def test_rename_prefixes_first_match_on_original_key() -> None:
    arr = pa.array([[("user_team", "a"), ("aws_created_by", "b"), ("user_aws_x", "c"), ("other", "d")]], TEXT_MAP)
    body = kv_json_body(arr, "", {"user_": "", "aws_": "aws:"})
    assert json.loads("{" + body[0].as_py() + "}") == {"team": "a", "aws:created_by": "b", "aws_x": "c", "other": "d"}


# --- null_values, json_maps, extensions in convert_batch -------------------------------------------


def test_null_values_apply_to_text_columns_only() -> None:
    rules = _rules(null_values=["NULL", "null"], columns={"ChargeClass": "cls", "ResourceId": "rid"})
    batch = pa.RecordBatch.from_pydict(
        {
            "cost": pa.array(["1", "2"]),
            "cur": pa.array(["USD", "USD"]),
            "cls": pa.array(["NULL", "Correction"]),
            "rid": pa.array(["null", "NULL-ish"]),
        }
    )
    out = _convert(rules, batch).batch
    assert out.column("ChargeClass").to_pylist() == [None, "Correction"]
    assert out.column("ResourceId").to_pylist() == [None, "NULL-ish"]


def test_json_maps_read_text_as_maps_and_reject_bad_rows() -> None:
    rules = _rules(
        json_maps=["product", "tags"],
        columns={"ServiceName": {"coalesce": [{"map_get": {"column": "product", "key": "product_name"}}, "code"]}},
        tags={"maps": [{"column": "tags", "rename_prefixes": {"user_": ""}}]},
    )
    batch = pa.RecordBatch.from_pydict(
        {
            "cost": pa.array(["1.5", "2", "4"]),
            "cur": pa.array(["USD", "USD", "USD"]),
            "code": pa.array(["AmazonEC2", "AmazonS3", "AWSLambda"]),
            "product": pa.array(['{"product_name": "Amazon EC2"}', None, "{broken"]),
            "tags": pa.array(['{"user_team": "web"}', "{}", None]),
        }
    )
    res = _convert(rules, batch)
    assert res.batch.column("ServiceName").to_pylist() == ["Amazon EC2", "AmazonS3"]
    assert res.batch.column("Tags").to_pylist() == ['{"team":"web"}', None]
    assert [r.row_number for r in res.rejected] == [2]
    assert res.rejected[0].reason == "product: not a JSON object"
    assert json.loads(res.rejected[0].raw)["product"] == "{broken"  # the source text, not the parsed map
    from decimal import Decimal

    assert res.source_totals == {"USD": Decimal("7.5")}
    assert res.rejected_totals == {"USD": Decimal("4")}


def test_map_columns_are_kept_in_extensions_as_json_text() -> None:
    rules = _rules(extensions={"x_Product": "product"}, extension_prefixes=["x_"])
    batch = pa.RecordBatch.from_pydict(
        {
            "cost": pa.array(["1", "2"]),
            "cur": pa.array(["USD", "USD"]),
            "product": pa.array([[("a", "1")], None], TEXT_MAP),
            "x_Discounts": pa.array([[("edp", -0.5)], []], pa.map_(pa.string(), pa.float64())),
            "x_List": pa.array([[1], [2]]),  # other nested columns are still skipped
        }
    )
    ext = [json.loads(x) if x else None for x in _convert(rules, batch).batch.column("x_Extensions").to_pylist()]
    assert ext == [{"x_Product": '{"a":"1"}', "x_Discounts": '{"edp":"-0.5"}'}, None]


def test_docs_show_the_new_rules_fields() -> None:
    from cloudops.focus.docs import render_rules

    rules = _rules(
        detect={"all_of": ["cost"], "any_of": ["v2"]},
        null_values=["NULL"],
        json_maps=["product"],
        tags={"maps": [{"column": "tags", "rename_prefixes": {"user_": ""}}]},
    )
    text = render_rules(rules)
    assert "and at least one of `v2`" in text
    assert 'text "NULL" in any column means null' in text
    assert "(JSON object text in CSV, maps in Parquet): `product`" in text
    assert '(key prefixes renamed: "user_" -> "")' in text
