"""cloudops.focus.expr: arithmetic, text, JSON, list and month operations, modifiers and cases.

Each test evaluates one rules expression over a small Arrow batch and checks the exact
values and the exact "bad" mask (rows whose number or date could not be read).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from pydantic import ValidationError

from cloudops.focus.columns import DECIMAL, FOCUS_COLUMNS, TIMESTAMP
from cloudops.focus.convert import convert_batch
from cloudops.focus.expr import evaluate
from cloudops.focus.rules import Expr, FormatRules

D = Decimal
KV = pa.struct([("key", pa.string()), ("value", pa.string())])


def texts(**columns: list[str | None]) -> pa.RecordBatch:
    """A batch of text columns (like the CSV reader yields); "" stays "" here."""
    return pa.RecordBatch.from_pydict({k: pa.array(v, pa.string()) for k, v in columns.items()})


def run(doc: Any, batch: pa.RecordBatch) -> tuple[list[Any], list[bool] | None]:
    values, bad = evaluate(Expr.model_validate(doc), batch)
    assert len(values) == batch.num_rows
    return values.to_pylist(), None if bad is None else bad.to_pylist()


def run_typed(doc: Any, batch: pa.RecordBatch) -> tuple[pa.Array, pa.Array | None]:
    return evaluate(Expr.model_validate(doc), batch)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# --------------------------------------------------------------------------- add / sub


def test_add_two_operands_null_counts_as_zero() -> None:
    b = texts(a=["1", "2.5", None, None, "-0.1"], b=["2", None, "3", None, "0.3"])
    values, bad = run({"add": ["a", "b"]}, b)
    assert values == [D("3"), D("2.5"), D("3"), None, D("0.2")]
    assert bad is None


def test_add_result_is_exact_decimal() -> None:
    values, bad = run_typed({"add": ["a", "b"]}, texts(a=["0.1"], b=["0.2"]))
    assert bad is None
    assert values.type == DECIMAL
    assert values.to_pylist() == [D("0.3")]
    assert str(values[0].as_py()) == "0.3000000000"


def test_add_three_operands() -> None:
    b = texts(a=["1", None, None, "1"], b=["2", None, "5", None], c=["3", None, None, "0.0000000001"])
    values, bad = run({"add": ["a", "b", "c"]}, b)
    assert values == [D("6"), None, D("5"), D("1.0000000001")]
    assert bad is None


def test_add_with_constants_and_nested_expressions() -> None:
    b = texts(a=["10", None], b=["4", "4"])
    values, _ = run({"add": ["a", {"neg": "b"}, {"const": "0.5"}]}, b)
    assert values == [D("6.5"), D("-3.5")]


def test_add_single_operand_null_stays_null() -> None:
    values, bad = run({"add": ["a"]}, texts(a=["1.25", None]))
    assert values == [D("1.25"), None]
    assert bad is None


def test_add_bad_operand_text_flags_row() -> None:
    b = texts(a=["1", "abc", None, "1"], b=["2", "1", "1,5", "2"])
    values, bad = run({"add": ["a", "b"]}, b)
    assert bad == [False, True, True, False]
    assert values[0] == D("3")
    assert values[3] == D("3")


def test_add_absent_columns_stay_null() -> None:
    values, bad = run({"add": ["missing", "also_missing"]}, texts(a=["1", "2"]))
    assert values == [None, None]
    assert bad is None


def test_add_overflow_is_bad_not_a_crash() -> None:
    # 10**28 does not fit Decimal(38, 10): the row is flagged, the batch still evaluates.
    big = pa.array([D("9999999999999999999999999999.5"), D("1"), D("-9999999999999999999999999999")], DECIMAL)
    b = pa.RecordBatch.from_pydict({"a": big, "b": pa.array([D("0.5"), D("2"), D("1")], DECIMAL)})
    values, bad = run({"add": ["a", "b"]}, b)
    assert values == [None, D("3"), D("-9999999999999999999999999998")]
    assert bad == [True, False, False]
    values, bad = run({"sub": ["c", "a"]}, b.append_column("c", pa.array([D("-1")] * 3, DECIMAL)))
    assert values == [None, D("-2"), D("9999999999999999999999999998")]
    assert bad == [True, False, False]


def test_add_typed_decimal_and_integer_columns() -> None:
    b = pa.RecordBatch.from_pydict(
        {
            "a": pa.array([D("1.123456789012"), None], pa.decimal128(20, 12)),
            "b": pa.array([2, 3], pa.int64()),
        }
    )
    values, bad = run({"add": ["a", "b"]}, b)
    # Decimal(20, 12) is rounded half-even to 10 places first: ...9012 -> ...9012 -> 1.1234567890.
    assert values == [D("3.1234567890"), D("3")]
    assert bad is None


def test_sub() -> None:
    b = texts(a=["5", None, "1", None, "0.3"], b=["2", "3", None, None, "0.1"])
    values, bad = run({"sub": ["a", "b"]}, b)
    assert values == [D("3"), D("-3"), D("1"), None, D("0.2")]
    assert bad is None


def test_sub_bad_operand() -> None:
    values, bad = run({"sub": ["a", "b"]}, texts(a=["5", "5"], b=["x", "1"]))
    assert bad == [True, False]
    assert values[1] == D("4")


def test_sub_needs_two_operands() -> None:
    with pytest.raises(ValidationError, match="sub takes exactly two operands"):
        Expr.model_validate({"sub": ["a", "b", "c"]})


# --------------------------------------------------------------------------- mul / neg


def test_mul_exact() -> None:
    b = texts(a=["1.5", "-2", "0.1", None, "3"], b=["2", "0.25", "0.1", "2", None])
    values, bad = run({"mul": ["a", "b"]}, b)
    assert values == [D("3"), D("-0.5"), D("0.01"), None, None]  # a null operand gives null
    assert bad is None


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("0.00001", "0.000015", "0.0000000002"),  # 1.5e-10 -> up to even 2
        ("0.00001", "0.000025", "0.0000000002"),  # 2.5e-10 -> down to even 2
        ("0.00001", "0.000035", "0.0000000004"),  # 3.5e-10 -> up to even 4
        ("-0.00001", "0.000025", "-0.0000000002"),
        ("1.5", "1.3333333333", "2.0000000000"),  # 1.99999999995 -> 2
        ("0.00001", "0.0000251", "0.0000000003"),  # above the half -> up
        ("123456789.123", "1000", "123456789123"),
    ],
)
def test_mul_rounds_half_even_to_ten_places(a: str, b: str, expected: str) -> None:
    values, _ = run_typed({"mul": ["a", "b"]}, texts(a=[a], b=[b]))
    assert values.type == DECIMAL
    assert values.to_pylist() == [D(expected)]


def test_mul_bad_operand() -> None:
    values, bad = run({"mul": ["a", "b"]}, texts(a=["2", "two", "2"], b=["3", "3", "x"]))
    assert values[0] == D("6")
    assert bad == [False, True, True]


def test_mul_large_values_exact_and_overflow_is_bad() -> None:
    # Values of 10**27 and more cannot take Arrow's fast path: they are multiplied exactly anyway.
    a = pa.array([D("1000000000000000000000000000.5"), D("5000000000000000000000000000"), D("2")], DECIMAL)
    b = pa.array([D("2"), D("2"), D("0.5")], DECIMAL)
    values, bad = run({"mul": ["a", "b"]}, pa.RecordBatch.from_pydict({"a": a, "b": b}))
    assert values == [D("2000000000000000000000000001"), None, D("1")]
    assert bad == [False, True, False]


def test_mul_needs_two_operands() -> None:
    with pytest.raises(ValidationError, match="mul takes exactly two operands"):
        Expr.model_validate({"mul": ["a"]})


def test_neg() -> None:
    values, bad = run({"neg": "a"}, texts(a=["1.5", None, "x", "-2", "0"]))
    assert values[:2] == [D("-1.5"), None]
    assert values[3:] == [D("2"), D("0")]
    assert bad == [False, False, True, False, False]


def test_neg_of_clean_column_has_no_bad_mask() -> None:
    values, bad = run_typed({"neg": "a"}, texts(a=["1", None]))
    assert values.type == DECIMAL
    assert bad is None


def test_neg_of_sum() -> None:
    values, _ = run({"neg": {"add": ["a", "b"]}}, texts(a=["1", None], b=["2", None]))
    assert values == [D("-3"), None]


# --------------------------------------------------------------------------- concat


def test_concat_without_separator() -> None:
    b = texts(a=["a", None, None, "x"], b=["b", "b", None, None])
    values, bad = run({"concat": ["a", "b"]}, b)
    assert values == ["ab", "b", None, "x"]
    assert bad is None


def test_concat_with_separator_skips_null_parts() -> None:
    b = texts(
        a=["x", "x", None, None, "x", None],
        b=["y", None, None, "y", None, None],
        c=["z", None, None, None, None, None],
        d=["w", "w", "w", None, None, None],
    )
    values, _ = run({"concat": ["a", "b", "c", "d"], "sep": "/"}, b)
    assert values == ["x/y/z/w", "x/w", "w", "y", "x", None]


def test_concat_multi_character_separator_has_no_edge_separators() -> None:
    values, _ = run({"concat": ["a", "b"], "sep": "::"}, texts(a=["x", None, "x"], b=[None, "y", "y"]))
    assert values == ["x", "y", "x::y"]


def test_concat_never_edits_the_values_themselves() -> None:
    b = texts(a=["a--b", "-lead", "//"], b=["c", "trail-", None])
    values, _ = run({"concat": ["a", "b"], "sep": "-"}, b)
    assert values == ["a--b-c", "-lead-trail-", "//"]


def test_concat_skips_empty_text_parts() -> None:
    # Typed files (Parquet, JSON) can hold "" rather than null: no doubled separator either.
    values, _ = run({"concat": ["a", "b", "c"], "sep": "|"}, texts(a=["x", ""], b=["", ""], c=["z", ""]))
    assert values == ["x|z", None]


def test_concat_with_constants_and_typed_parts() -> None:
    b = pa.RecordBatch.from_pydict(
        {
            "n": pa.array([7, None], pa.int64()),
            "f": pa.array([True, False]),
        }
    )
    values, _ = run({"concat": [{"const": "id"}, "n", "f"], "sep": "-"}, b)
    assert values == ["id-7-true", "id-false"]


def test_concat_carries_bad_mask_of_parts() -> None:
    values, bad = run({"concat": [{"month_start": "m"}, "a"], "sep": " "}, texts(m=["202401", "nope"], a=["x", "y"]))
    assert bad == [False, True]
    assert values == ["2024-01-01T00:00:00Z x", "y"]


# --------------------------------------------------------------------------- json_of


def _map(rows: list[Any], value_type: pa.DataType = pa.string()) -> pa.Array:
    return pa.array(rows, pa.map_(pa.string(), value_type))


MAP_ROWS: list[Any] = [
    [("env", "prod"), ('team "a"', "back\\slash\nnew line")],
    [],
    None,
    [("k", None)],
    [("tab", "a\tb"), ("cr", "a\rb"), ("bell", "a\x07b")],
]
MAP_EXPECTED = [
    '{"env":"prod","team \\"a\\"":"back\\\\slash\\nnew line"}',
    None,
    None,
    '{"k":null}',
    '{"tab":"a\\tb","cr":"a\\rb","bell":"a b"}',
]


def test_json_of_map_column() -> None:
    b = pa.RecordBatch.from_pydict({"labels": _map(MAP_ROWS)})
    values, bad = run({"json_of": "labels"}, b)
    assert values == MAP_EXPECTED
    assert bad is None
    assert json.loads(values[0]) == {"env": "prod", 'team "a"': "back\\slash\nnew line"}
    assert json.loads(values[3]) == {"k": None}


@pytest.mark.parametrize(("start", "length"), [(0, 1), (1, 4), (2, 3), (3, 2), (4, 1), (1, 2)])
def test_json_of_map_column_sliced(start: int, length: int) -> None:
    b = pa.RecordBatch.from_pydict({"labels": _map(MAP_ROWS)}).slice(start, length)
    values, _ = run({"json_of": "labels"}, b)
    assert values == MAP_EXPECTED[start : start + length]


def test_json_of_map_with_typed_values() -> None:
    b = pa.RecordBatch.from_pydict({"m": _map([[("n", 5), ("z", None)], [("x", -1)]], pa.int64())})
    values, _ = run({"json_of": "m"}, b)
    assert values == ['{"n":"5","z":null}', '{"x":"-1"}']


KV_ROWS: list[Any] = [
    [{"key": "a", "value": "1"}, {"key": "b", "value": None}],
    [],
    None,
    [{"key": "c,,d", "value": "x,,y"}, {"key": "e", "value": ",,"}],
    [{"key": None, "value": "no key"}, {"key": "ok", "value": "1"}],
    [None, {"key": 'q"uote', "value": 'v"al\\'}],
]
KV_EXPECTED = [
    '{"a":"1","b":null}',
    None,
    None,
    '{"c,,d":"x,,y","e":",,"}',  # commas inside keys and values are kept as they are
    '{"ok":"1"}',  # a pair without a key is skipped, the rest of the object kept
    '{"q\\"uote":"v\\"al\\\\"}',  # a null element is skipped
]


def test_json_of_key_value_list() -> None:
    b = pa.RecordBatch.from_pydict({"labels": pa.array(KV_ROWS, pa.list_(KV))})
    values, bad = run({"json_of": "labels"}, b)
    assert values == KV_EXPECTED
    assert bad is None
    for v in values:
        if v is not None:
            json.loads(v)


@pytest.mark.parametrize(("start", "length"), [(0, 1), (1, 5), (3, 1), (3, 3), (5, 1), (2, 2)])
def test_json_of_key_value_list_sliced(start: int, length: int) -> None:
    b = pa.RecordBatch.from_pydict({"labels": pa.array(KV_ROWS, pa.list_(KV))}).slice(start, length)
    values, _ = run({"json_of": "labels"}, b)
    assert values == KV_EXPECTED[start : start + length]


def test_json_of_null_list_that_still_spans_values() -> None:
    # A null list slot may still cover child values (offsets 2..4 here): they must not leak.
    child = pa.array([{"key": k, "value": k} for k in "abcd"], KV)
    lists = pa.ListArray.from_arrays(pa.array([0, 2, 4, 4], pa.int32()), child, mask=pa.array([False, True, False]))
    values, _ = run({"json_of": "l"}, pa.RecordBatch.from_pydict({"l": lists}))
    assert values == ['{"a":"a","b":"b"}', None, None]


def test_json_of_list_without_value_field() -> None:
    records = pa.array([[{"key": "only"}]], pa.list_(pa.struct([("key", pa.string())])))
    values, _ = run({"json_of": "l"}, pa.RecordBatch.from_pydict({"l": records}))
    assert values == ['{"only":null}']


def test_json_of_absent_or_all_null_column_is_null() -> None:
    assert run({"json_of": "missing"}, texts(a=["1", "2"]))[0] == [None, None]
    nulls = pa.RecordBatch.from_pydict({"l": pa.nulls(2, pa.list_(KV))})
    assert run({"json_of": "l"}, nulls)[0] == [None, None]


def test_json_of_text_column_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot read key/value pairs"):
        run({"json_of": "a"}, texts(a=['{"a": 1}']))


def test_json_column_rule_from_a_map_or_key_value_list() -> None:
    # A json FOCUS column (Tags) given straight from a map or key/value-list column.
    rules = FormatRules.model_validate(rules_doc(columns={"Tags": "labels", "SkuPriceDetails": "kv"}))
    b = minimal_batch(3)
    b = b.append_column("labels", _map([[("env", "prod")], [], None]))
    b = b.append_column("kv", pa.array([None, [{"key": "tier", "value": "1"}], []], pa.list_(KV)))
    result = convert_batch(b, rules, file_id="f", batch_id="b", row_offset=0)
    assert result.rejected == []
    assert result.batch.column("Tags").to_pylist() == ['{"env":"prod"}', None, None]
    assert result.batch.column("SkuPriceDetails").to_pylist() == [None, '{"tier":"1"}', None]


# --------------------------------------------------------------------------- map_get


def test_map_get() -> None:
    rows: list[Any] = [[("env", "prod"), ("team", "x")], [("team", "y")], [], None, [("env", None)]]
    b = pa.RecordBatch.from_pydict({"m": _map(rows)})
    values, bad = run({"map_get": {"column": "m", "key": "env"}}, b)
    assert values == ["prod", None, None, None, None]
    assert bad is None
    assert run({"map_get": {"column": "m", "key": "nope"}}, b)[0] == [None] * 5
    assert run({"map_get": {"column": "m", "key": "team"}}, b.slice(1, 2))[0] == ["y", None]


def test_map_get_first_occurrence_and_typed_values() -> None:
    b = pa.RecordBatch.from_pydict({"m": _map([[("n", 1), ("n", 2)], [("n", None)]], pa.int64())})
    assert run({"map_get": {"column": "m", "key": "n"}}, b)[0] == ["1", None]


def test_map_get_absent_column() -> None:
    assert run({"map_get": {"column": "missing", "key": "k"}}, texts(a=["1", "2"]))[0] == [None, None]


def test_map_get_then_modifiers() -> None:
    b = pa.RecordBatch.from_pydict({"m": _map([[("env", "PROD")], [("env", "dev")], []])})
    doc = {"map_get": {"column": "m", "key": "env"}, "lower": True, "map": {"prod": "Production"}, "default": "none"}
    assert run(doc, b)[0] == ["Production", "none", "none"]


# --------------------------------------------------------------------------- sum_list


def _credits(rows: list[Any], amount: pa.DataType) -> pa.RecordBatch:
    t = pa.list_(pa.struct([("name", pa.string()), ("amount", amount)]))
    return pa.RecordBatch.from_pydict({"credits": pa.array(rows, t)})


SUM = {"sum_list": {"column": "credits", "field": "amount"}}


def test_sum_list_float_elements_use_shortest_text() -> None:
    rows: list[Any] = [
        [{"name": "a", "amount": 0.1}, {"name": "b", "amount": 0.2}],
        [],
        None,
        [{"name": "c", "amount": 1e-7}],
        [{"name": "d", "amount": -1.5}, {"name": "e", "amount": None}, None],
    ]
    values, bad = run(SUM, _credits(rows, pa.float64()))
    # 0.1 + 0.2 is 0.3 exactly, not 0.30000000000000004; empty and null lists sum to 0.
    assert values == [D("0.3"), D("0"), D("0"), D("0.0000001"), D("-1.5")]
    assert bad is None


def test_sum_list_text_elements_bad_element_flags_its_row() -> None:
    rows: list[Any] = [
        [{"name": "a", "amount": "1.5"}, {"name": "b", "amount": "-0.25"}],
        [{"name": "c", "amount": "x"}, {"name": "d", "amount": "2"}],
        [],
        [{"name": "e", "amount": "3"}],
    ]
    values, bad = run(SUM, _credits(rows, pa.string()))
    assert bad == [False, True, False, False]
    assert values[0] == D("1.25")
    assert values[2] == D("0")
    assert values[3] == D("3")


def test_sum_list_decimal_and_integer_elements() -> None:
    dec = [[{"name": "a", "amount": D("0.123456789")}, {"name": "b", "amount": D("-0.000000001")}], None]
    assert run(SUM, _credits(dec, pa.decimal128(18, 9)))[0] == [D("0.123456788"), D("0")]
    ints = [[{"name": "a", "amount": 5}, {"name": "b", "amount": -2}], []]
    assert run(SUM, _credits(ints, pa.int64()))[0] == [D("3"), D("0")]


def test_sum_list_of_plain_numbers() -> None:
    b = pa.RecordBatch.from_pydict({"credits": pa.array([[0.1, 0.2], [], None], pa.list_(pa.float64()))})
    assert run(SUM, b)[0] == [D("0.3"), D("0"), D("0")]


def test_sum_list_sliced_batch() -> None:
    rows: list[Any] = [
        [{"name": "a", "amount": "1"}],
        [{"name": "b", "amount": "x"}],
        [{"name": "c", "amount": "2"}, {"name": "d", "amount": "3"}],
        None,
    ]
    values, bad = run(SUM, _credits(rows, pa.string()).slice(1, 3))
    assert bad == [True, False, False]
    assert values[1:] == [D("5"), D("0")]


def test_sum_list_absent_or_all_null_column_is_zero() -> None:
    values, bad = run_typed(SUM, texts(a=["1", "2"]))
    assert values.type == DECIMAL
    assert values.to_pylist() == [D("0"), D("0")]
    assert bad is None
    assert run(SUM, _credits([None, None], pa.float64()))[0] == [D("0"), D("0")]


def test_sum_list_null_list_that_still_spans_values() -> None:
    child = pa.array([{"name": "a", "amount": 1.0}] * 4, pa.struct([("name", pa.string()), ("amount", pa.float64())]))
    lists = pa.ListArray.from_arrays(pa.array([0, 1, 3, 4], pa.int32()), child, mask=pa.array([False, True, False]))
    assert run(SUM, pa.RecordBatch.from_pydict({"credits": lists}))[0] == [D("1"), D("0"), D("1")]


def test_add_cost_and_credits_for_reconciliation() -> None:
    rows: list[Any] = [[{"name": "a", "amount": -0.4}], [], [{"name": "b", "amount": -1}, {"name": "c", "amount": -2}]]
    b = _credits(rows, pa.float64()).append_column("cost", pa.array([1.0, None, 3.0]))
    assert run({"add": ["cost", SUM]}, b)[0] == [D("0.6"), D("0"), D("0")]


# --------------------------------------------------------------------------- month_start / month_end

MONTH_TEXT = ["202311", "2023-11", "2023-12", "2024-01", "2023-11-15", "2023-11-30T23:59:59Z", "20231115", " 202302"]


def test_month_start_of_text() -> None:
    values, bad = run({"month_start": "m"}, texts(m=MONTH_TEXT))
    assert values == [
        utc(2023, 11, 1),
        utc(2023, 11, 1),
        utc(2023, 12, 1),
        utc(2024, 1, 1),
        utc(2023, 11, 1),
        utc(2023, 11, 1),
        utc(2023, 11, 1),
        utc(2023, 2, 1),
    ]
    assert bad == [False] * len(MONTH_TEXT)


def test_month_end_of_text_wraps_to_next_year() -> None:
    values, bad = run_typed({"month_end": "m"}, texts(m=MONTH_TEXT))
    assert values.type == TIMESTAMP
    assert values.to_pylist() == [
        utc(2023, 12, 1),
        utc(2023, 12, 1),
        utc(2024, 1, 1),
        utc(2024, 2, 1),
        utc(2023, 12, 1),
        utc(2023, 12, 1),
        utc(2023, 12, 1),
        utc(2023, 3, 1),
    ]
    assert bad is not None
    assert not any(bad.to_pylist())


@pytest.mark.parametrize("op", ["month_start", "month_end"])
def test_month_bad_text_is_bad_not_a_crash(op: str) -> None:
    b = texts(m=["bad", None, "202313", "202300", "2023-1", "23-11", "", "202311"])
    values, bad = run({op: "m"}, b)
    assert values[:7] == [None] * 7
    assert values[7] is not None
    # null is not bad (nothing to read); every unreadable text is.
    assert bad == [True, False, True, True, True, True, True, False]


def test_month_of_timestamp_columns() -> None:
    naive = pa.array([datetime(2023, 12, 31, 23, 59, 59), None], pa.timestamp("us"))
    # 2023-12-01T02:00Z is still November in New York: the UTC month counts.
    zoned = pa.array([datetime(2023, 12, 1, 2, 0, tzinfo=UTC), None], pa.timestamp("us", tz="America/New_York"))
    nanos = pa.array([1_701_388_800_000_000_001, None], pa.timestamp("ns", tz="UTC"))  # 2023-12-01T00:00:00.000000001Z
    b = pa.RecordBatch.from_pydict({"naive": naive, "zoned": zoned, "nanos": nanos})
    assert run({"month_start": "naive"}, b) == ([utc(2023, 12, 1), None], [False, False])
    assert run({"month_end": "naive"}, b) == ([utc(2024, 1, 1), None], [False, False])
    assert run({"month_start": "zoned"}, b)[0] == [utc(2023, 12, 1), None]
    assert run({"month_end": "zoned"}, b)[0] == [utc(2024, 1, 1), None]
    assert run({"month_end": "nanos"}, b)[0] == [utc(2024, 1, 1), None]


def test_month_of_date_column() -> None:
    b = pa.RecordBatch.from_pydict({"d": pa.array([datetime(2023, 12, 15).date(), None], pa.date32())})
    assert run({"month_start": "d"}, b) == ([utc(2023, 12, 1), None], [False, False])
    assert run({"month_end": "d"}, b)[0] == [utc(2024, 1, 1), None]


def test_month_of_nested_expression() -> None:
    values, _ = run({"month_end": {"coalesce": ["a", "b"]}}, texts(a=[None, "2023-06"], b=["202312", "x"]))
    assert values == [utc(2024, 1, 1), utc(2023, 7, 1)]


# --------------------------------------------------------------------------- extract and modifiers


def test_extract_first_group_non_match_and_null_stay_null() -> None:
    values, bad = run({"from": "a", "extract": r"^(\w+)-"}, texts(a=["ab-c", "x", None, "-z"]))
    assert values == ["ab", None, None, None]
    assert bad is None


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        (r"(?:id-)(\d+)", "id-42", "42"),  # a non-capturing group first
        (r"\((\d+)\)", "cost (12)", "12"),  # escaped parentheses are not groups
        (r"[(](\w)", "x(y", "y"),
        (r"(?P<num>\d+)-(\d+)", "7-8", "7"),
        (r"arn:aws:ec2:[^:]*:\d+:instance/(i-[0-9a-f]+)", "arn:aws:ec2:us-east-1:123:instance/i-0abc", "i-0abc"),
        (r"(a)?b", "b", ""),  # an optional group that did not take part
        (r"(\w)-(\w)", "x-y", "x"),
        (r"[]()](\d)", ")7", "7"),  # "]" first in a class is a literal
        (r"[^)(](\d)", "a9", "9"),
        (r"\\(\w+)", "a\\bc", "bc"),  # an escaped backslash before a group
    ],
)
def test_extract_patterns(pattern: str, text: str, expected: str) -> None:
    assert run({"from": "a", "extract": pattern}, texts(a=[text]))[0] == [expected]


def test_extract_of_typed_column() -> None:
    b = pa.RecordBatch.from_pydict({"n": pa.array([20240105, None], pa.int64())})
    assert run({"from": "n", "extract": r"^(\d{6})"}, b)[0] == ["202401", None]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"\d+", "needs a capturing group"),
        (r"(?:x)\d", "needs a capturing group"),
        ("(unclosed", "not a usable regular expression"),
        (r"(?<=a)(b)", "not a usable regular expression"),  # Python accepts it, Arrow's RE2 does not
    ],
)
def test_extract_pattern_is_checked_when_rules_load(pattern: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Expr.model_validate({"from": "a", "extract": pattern})
    doc = rules_doc(columns={"ChargeDescription": {"from": "d", "extract": pattern}})
    with pytest.raises(ValidationError, match=message):
        FormatRules.model_validate(doc)


def test_lower_upper() -> None:
    b = texts(a=["MiXed Ünïcode", None])
    assert run({"from": "a", "lower": True}, b)[0] == ["mixed ünïcode", None]
    assert run({"from": "a", "upper": True}, b)[0] == ["MIXED ÜNÏCODE", None]


def test_lower_of_typed_column() -> None:
    b = pa.RecordBatch.from_pydict({"f": pa.array([True, None])})
    assert run({"from": "f", "upper": True}, b)[0] == ["TRUE", None]


def test_extract_then_upper_then_map_then_default() -> None:
    doc = {"from": "a", "extract": r"^(\w+)-", "upper": True, "map": {"AB": "Alpha"}, "default": "Other"}
    assert run(doc, texts(a=["ab-1", "cd-2", "zz", None]))[0] == ["Alpha", "Other", "Other", "Other"]


def test_extract_then_lower_then_map_keeps_unmapped() -> None:
    doc = {"from": "a", "extract": r"^(\w+)/", "lower": True, "map": {"ec2": "Compute"}}
    assert run(doc, texts(a=["EC2/x", "S3/y", "nothing"]))[0] == ["Compute", "s3", None]


def test_extract_then_lookup_with_default() -> None:
    doc = {"from": "a", "extract": r"^svc:(\w+)$", "lookup": "aws_service_categories.csv", "default": "Other"}
    assert run(doc, texts(a=["svc:AWSGlue", "svc:NoSuchService", "garbage", None]))[0] == [
        "Analytics",
        "Other",
        "Other",
        "Other",
    ]


def test_extract_then_default_only_fills_non_matches() -> None:
    doc = {"from": "a", "extract": r"^(\d+)", "default": "0"}
    assert run(doc, texts(a=["12ab", "ab", None]))[0] == ["12", "0", "0"]


def test_default_on_decimal_result_becomes_text() -> None:
    values, _ = run_typed({"add": ["a"], "default": "0"}, texts(a=["1.5", None]))
    assert values.type == pa.string()
    assert values.to_pylist() == ["1.5000000000", "0"]


# --------------------------------------------------------------------------- cases


def test_cases_branches_of_different_types_become_text() -> None:
    doc = {
        "cases": [{"when": {"column": "k", "in": ["num"]}, "then": {"add": ["a"]}}],
        "else": {"from": "a"},
    }
    values, bad = run_typed(doc, texts(k=["num", "txt", None], a=["1.5", "hello", "x"]))
    assert values.type == pa.string()
    assert values.to_pylist() == ["1.5000000000", "hello", "x"]
    assert bad is not None
    assert bad.to_pylist() == [False, False, False]


def test_cases_all_decimal_branches_stay_decimal() -> None:
    doc = {
        "cases": [{"when": {"column": "k", "in": ["a"]}, "then": {"add": ["a"]}}],
        "else": {"neg": "b"},
    }
    values, _ = run_typed(doc, texts(k=["a", "b"], a=["1.5", "9"], b=["9", "2.25"]))
    assert values.type == DECIMAL
    assert values.to_pylist() == [D("1.5"), D("-2.25")]


def test_cases_decimal_with_const_branch_lands_exact_in_decimal_column() -> None:
    doc = rules_doc(
        columns={
            "EffectiveCost": {
                "cases": [{"when": {"column": "k", "in": ["free"]}, "then": {"const": "0"}}],
                "else": {"mul": ["cost", "rate"]},
            }
        }
    )
    rules = FormatRules.model_validate(doc)
    b = minimal_batch(3, k=["free", "paid", "paid"], rate=["2", "0.5", "0.3333333333"], cost=["7", "3", "1"])
    result = convert_batch(b, rules, file_id="f", batch_id="b", row_offset=0)
    assert result.rejected == []
    assert result.batch.column("EffectiveCost").to_pylist() == [D("0"), D("1.5"), D("0.3333333333")]


def test_cases_only_the_chosen_branch_bad_counts() -> None:
    doc = {
        "cases": [{"when": {"column": "k", "in": ["x"]}, "then": {"add": ["a"]}}],
        "else": {"add": ["b"]},
    }
    b = texts(
        k=["x", "x", "y", "y", None],
        a=["bad", "1", "bad", "1", "bad"],
        b=["1", "bad", "1", "bad", "1"],
    )
    values, bad = run(doc, b)
    assert bad == [True, False, False, True, False]
    assert values[1] == D("1")
    assert values[2] == D("1")
    assert values[4] == D("1")


def test_cases_bad_in_later_branch_and_month_branch() -> None:
    doc = {
        "cases": [
            {"when": {"column": "k", "in": ["m"]}, "then": {"month_start": "a"}},
            {"when": {"column": "k", "is_null": True}, "then": {"month_end": "a"}},
        ],
        "else": {"none": True},
    }
    b = texts(k=["m", "m", None, None, "z"], a=["202401", "nope", "202412", "nope", "nope"])
    values, bad = run(doc, b)
    assert bad == [False, True, False, True, False]
    assert values[0] == "2024-01-01T00:00:00Z"
    assert values[2] == "2025-01-01T00:00:00Z"
    assert values[4] is None


def test_cases_without_any_bad_source_have_no_mask() -> None:
    doc = {"cases": [{"when": {"column": "k", "in": ["x"]}, "then": {"const": "A"}}], "else": {"from": "k"}}
    values, bad = run(doc, texts(k=["x", "y", None]))
    assert values == ["A", "y", None]
    assert bad is None


# --------------------------------------------------------------------------- helpers for rules documents

MANDATORY = [c.name for c in FOCUS_COLUMNS if not c.nullable]


def rules_doc(**overrides: Any) -> dict[str, Any]:
    """A valid rules document reading `cost`, `cur`, `start`, `end`, `account`; columns merge."""
    columns: dict[str, Any] = {name: {"const": "x"} for name in MANDATORY}
    columns.update(
        {
            "BilledCost": "cost",
            "ContractedCost": "cost",
            "EffectiveCost": "cost",
            "ListCost": "cost",
            "BillingCurrency": "cur",
            "BillingPeriodStart": "start",
            "BillingPeriodEnd": "end",
            "ChargePeriodStart": "start",
            "ChargePeriodEnd": "end",
            "BillingAccountId": "account",
        }
    )
    columns.update(overrides.pop("columns", {}))
    doc: dict[str, Any] = {
        "id": "ops-test",
        "provider": "test",
        "title": "Test",
        "detect": {"all_of": ["cost", "cur"]},
        "reconcile": {"cost": "cost", "currency": "cur"},
        "columns": columns,
    }
    doc.update(overrides)
    return doc


def minimal_batch(n: int, **columns: list[str | None]) -> pa.RecordBatch:
    base: dict[str, list[str | None]] = {
        "cost": ["1"] * n,
        "cur": ["USD"] * n,
        "start": ["2024-01-01T00:00:00Z"] * n,
        "end": ["2024-02-01T00:00:00Z"] * n,
        "account": ["acc"] * n,
    }
    base.update(columns)
    return texts(**base)
