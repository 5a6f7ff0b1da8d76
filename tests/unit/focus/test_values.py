"""cloudops.focus.values: typed values (decimal, timestamp, text) and JSON objects, column at a time."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from cloudops.focus.columns import DECIMAL, TIMESTAMP
from cloudops.focus.values import (
    as_decimal,
    as_text,
    as_timestamp,
    json_body,
    json_object,
    kv_json_body,
    list_parents,
    wrap_json,
)

D = Decimal
KV = pa.struct([("key", pa.string()), ("value", pa.string())])


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def dec(arr: pa.Array, **kw: Any) -> tuple[list[Any], list[bool]]:
    values, bad = as_decimal(arr, **kw)
    assert values.type == DECIMAL
    assert len(values) == len(bad) == len(arr)
    return values.to_pylist(), bad.to_pylist()


def ts(arr: pa.Array, fmt: Any = None) -> tuple[list[Any], list[bool]]:
    values, bad = as_timestamp(arr, fmt)
    assert values.type == TIMESTAMP
    assert len(values) == len(bad) == len(arr)
    return values.to_pylist(), bad.to_pylist()


# --------------------------------------------------------------------------- as_decimal


@pytest.mark.parametrize("t", [pa.int8(), pa.int32(), pa.int64(), pa.uint16()])
def test_as_decimal_integers(t: pa.DataType) -> None:
    values, bad = dec(pa.array([1, None, 0, 100], t))
    assert values == [D(1), None, D(0), D(100)]
    assert bad == [False] * 4


def test_as_decimal_integer_extremes() -> None:
    assert dec(pa.array([-(2**63), 2**63 - 1], pa.int64()))[0] == [D(-(2**63)), D(2**63 - 1)]
    assert dec(pa.array([2**64 - 1], pa.uint64()))[0] == [D(2**64 - 1)]


def test_as_decimal_floats_via_shortest_text() -> None:
    values, bad = dec(pa.array([0.1, 1e-7, 123456.789, -2.5, 0.1 + 0.2, 1e-11, 5e-11, 1.5e-10, None]))
    assert [str(v) for v in values[:2]] == ["0.1000000000", "1.000E-7"]
    assert values == [
        D("0.1"),
        D("0.0000001"),
        D("123456.789"),
        D("-2.5"),
        D("0.3000000000"),  # 0.30000000000000004 rounded to 10 places
        D("0"),
        D("0"),  # 5e-11 rounds half-even down to 0
        D("0.0000000002"),  # 1.5e-10 rounds half-even up
        None,
    ]
    assert bad == [False] * 9


def test_as_decimal_float32_uses_its_own_shortest_text() -> None:
    assert dec(pa.array([0.1, 3.4], pa.float32()))[0] == [D("0.1"), D("3.4")]


def test_as_decimal_non_finite_floats_are_bad() -> None:
    values, bad = dec(pa.array([float("nan"), float("inf"), float("-inf"), 1.0]))
    assert values == [None, None, None, D(1)]
    assert bad == [True, True, True, False]


def test_as_decimal_decimal128_scale_above_ten_rounds_half_even() -> None:
    arr = pa.array(
        [D("1.000000000050"), D("1.000000000150"), D("-1.000000000050"), D("0.000000000051"), None],
        pa.decimal128(38, 12),
    )
    values, bad = dec(arr)
    assert values == [D("1.0000000000"), D("1.0000000002"), D("-1.0000000000"), D("0.0000000001"), None]
    assert bad == [False] * 5


def test_as_decimal_decimal128_small_scale_is_exact() -> None:
    assert dec(pa.array([D("1.23"), D("-99999.99")], pa.decimal128(7, 2)))[0] == [D("1.23"), D("-99999.99")]


def test_as_decimal_wide_decimals() -> None:
    arr = pa.array([D("1.00000000005"), D("1.00000000015"), D("123"), None], pa.decimal256(60, 20))
    values, bad = dec(arr)
    assert values == [D("1"), D("1.0000000002"), D("123"), None]
    assert bad == [False] * 4


def test_as_decimal_values_beyond_the_target_are_bad() -> None:
    huge = D("12345678901234567890123456789012345678")
    values, bad = dec(pa.array([huge, D(5)], pa.decimal128(38, 0)))
    assert values == [None, D(5)]
    assert bad == [True, False]
    values, bad = dec(pa.array([D(10) ** 60, D("-7")], pa.decimal256(76, 0)))
    assert values == [None, D(-7)]
    assert bad == [True, False]


def test_as_decimal_text() -> None:
    values, bad = dec(pa.array(["1.5", " -2 ", "1e-7", "abc", "", None, "1,5"]))
    assert values == [D("1.5"), D("-2"), D("0.0000001"), None, None, None, None]
    assert bad == [False, False, False, True, False, False, True]  # "" is no value, not a bad one


def test_as_decimal_text_with_decimal_comma() -> None:
    arr = pa.array(["1.234,56", "-0,5", "1.000", "12", None, "abc", "1.234.567,891"])
    values, bad = dec(arr, decimal_comma=True)
    assert values == [D("1234.56"), D("-0.5"), D("1000"), D("12"), None, None, D("1234567.891")]
    assert bad == [False, False, False, False, False, True, False]


def test_as_decimal_decimal_comma_on_dictionary_and_large_text() -> None:
    assert dec(pa.array(["1,5", "1,5"]).dictionary_encode(), decimal_comma=True)[0] == [D("1.5")] * 2
    assert dec(pa.array(["2,25"], pa.large_string()), decimal_comma=True)[0] == [D("2.25")]


def test_as_decimal_decimal_comma_leaves_typed_numbers_alone() -> None:
    # The flag is about how text is written; a float's own text (1.5) keeps its point.
    assert dec(pa.array([1.5, 1000.25]), decimal_comma=True)[0] == [D("1.5"), D("1000.25")]
    assert dec(pa.array([D("1.5")], pa.decimal128(5, 2)), decimal_comma=True)[0] == [D("1.5")]
    assert dec(pa.array([7], pa.int64()), decimal_comma=True)[0] == [D(7)]


def test_as_decimal_null_column() -> None:
    assert dec(pa.nulls(3)) == ([None] * 3, [False] * 3)


def test_as_decimal_boolean_is_bad() -> None:
    assert dec(pa.array([True, None])) == ([None, None], [True, False])


# --------------------------------------------------------------------------- as_timestamp


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
def test_as_timestamp_without_zone_is_utc(unit: str) -> None:
    arr = pa.array([datetime(2024, 1, 5, 10, 0, 0), None], pa.timestamp(unit))
    values, bad = ts(arr)
    assert values == [utc(2024, 1, 5, 10), None]
    assert bad == [False, False]


def test_as_timestamp_with_zone_is_converted_to_utc() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    arr = pa.array(
        [datetime(2024, 1, 5, 10, 0, tzinfo=berlin), datetime(2024, 7, 5, 10, 0, tzinfo=berlin)],
        pa.timestamp("ms", tz="Europe/Berlin"),
    )
    values, bad = ts(arr)
    assert values == [utc(2024, 1, 5, 9), utc(2024, 7, 5, 8)]  # CET, then CEST
    assert bad == [False, False]
    assert ts(pa.array([utc(2024, 1, 5, 9)], pa.timestamp("us", tz="+05:30")))[0] == [utc(2024, 1, 5, 9)]


def test_as_timestamp_nanoseconds_truncate_to_microseconds() -> None:
    arr = pa.array([1_704_448_800_000_001_999, None], pa.timestamp("ns"))
    values, bad = ts(arr)
    assert values == [datetime(2024, 1, 5, 10, 0, 0, 1, tzinfo=UTC), None]
    assert bad == [False, False]
    zoned = pa.array([1_704_448_800_000_000_001], pa.timestamp("ns", tz="UTC"))
    assert ts(zoned)[0] == [utc(2024, 1, 5, 10)]


def test_as_timestamp_dates() -> None:
    values, bad = ts(pa.array([date(2024, 2, 29), None], pa.date32()))
    assert values == [utc(2024, 2, 29), None]
    assert bad == [False, False]
    assert ts(pa.array([date(1999, 12, 31)], pa.date64()))[0] == [utc(1999, 12, 31)]


def test_as_timestamp_null_column() -> None:
    assert ts(pa.nulls(2)) == ([None, None], [False, False])


def test_as_timestamp_iso_text() -> None:
    arr = pa.array(
        [
            "2024-01-05T10:00:00Z",
            "2024-01-05T10:00:00+02:00",
            "2024-01-05T10:00:00-0130",
            "2024-01-05 10:00:00",
            "2024-01-05",
            "2024-01-05T10:00",
            "2024-01-05T10:00:00.123456789Z",
            None,
            "05/01/2024",
            "2024-13-05",
            "",
        ]
    )
    values, bad = ts(arr)
    assert values == [
        utc(2024, 1, 5, 10),
        utc(2024, 1, 5, 8),
        utc(2024, 1, 5, 11, 30),
        utc(2024, 1, 5, 10),
        utc(2024, 1, 5),
        utc(2024, 1, 5, 10),
        datetime(2024, 1, 5, 10, 0, 0, 123456, tzinfo=UTC),
        None,
        None,
        None,
        None,
    ]
    assert bad == [False] * 7 + [False, True, True, False]  # "" is no value, not a bad one


def test_as_timestamp_formats_first_that_parses_wins() -> None:
    arr = pa.array(["01/02/2024 10:00", "2024.03.04 05:06", "13/02/2024 00:00", "nope", None])
    values, bad = ts(arr, ["%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%Y.%m.%d %H:%M"])
    assert values == [utc(2024, 2, 1, 10), utc(2024, 3, 4, 5, 6), utc(2024, 2, 13), None, None]
    assert bad == [False, False, False, True, False]
    # The other order reads the ambiguous day/month the other way.
    values, _ = ts(arr, ["%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M"])
    assert values[:3] == [utc(2024, 1, 2, 10), None, utc(2024, 2, 13)]


def test_as_timestamp_single_format_and_zone_in_format() -> None:
    assert ts(pa.array(["20240105", "2024-01-05"]), "%Y%m%d") == ([utc(2024, 1, 5), None], [False, True])
    values, bad = ts(pa.array(["2024-01-05 10:00:00 +0200"]), ["%Y-%m-%d %H:%M:%S %z"])
    assert values == [utc(2024, 1, 5, 8)]
    assert bad == [False]


# --------------------------------------------------------------------------- as_text


def test_as_text_timestamps_are_iso_utc() -> None:
    assert as_text(pa.array([datetime(2024, 1, 5, 10, 0, 0)], pa.timestamp("s"))).to_pylist() == [
        "2024-01-05T10:00:00Z"
    ]
    assert as_text(pa.array([0, 1500, None], pa.timestamp("ms"))).to_pylist() == [
        "1970-01-01T00:00:00Z",
        "1970-01-01T00:00:01.500000Z",
        None,
    ]
    berlin = pa.array(
        [datetime(2024, 1, 5, 10, tzinfo=ZoneInfo("Europe/Berlin"))], pa.timestamp("s", tz="Europe/Berlin")
    )
    assert as_text(berlin).to_pylist() == ["2024-01-05T09:00:00Z"]
    nanos = pa.array([1_704_448_800_000_001_999], pa.timestamp("ns"))
    assert as_text(nanos).to_pylist() == ["2024-01-05T10:00:00.000001Z"]


def test_as_text_booleans() -> None:
    assert as_text(pa.array([True, False, None])).to_pylist() == ["true", "false", None]


def test_as_text_numbers() -> None:
    assert as_text(pa.array([1, -20, None], pa.int64())).to_pylist() == ["1", "-20", None]
    assert as_text(pa.array([1.5, 0.1, 1e-7, 1e21, 100.0])).to_pylist() == ["1.5", "0.1", "1e-7", "1e+21", "100"]
    assert as_text(pa.array([D("1.50"), D("-0.05")], pa.decimal128(5, 2))).to_pylist() == ["1.50", "-0.05"]
    assert as_text(pa.array([D("1.5")], DECIMAL)).to_pylist() == ["1.5000000000"]


def test_as_text_other_types() -> None:
    assert as_text(pa.array(["a", None])).to_pylist() == ["a", None]
    assert as_text(pa.array(["a"], pa.large_string())).to_pylist() == ["a"]
    assert as_text(pa.array(["a", "b", "a"]).dictionary_encode()).to_pylist() == ["a", "b", "a"]
    assert as_text(pa.array([date(2024, 1, 5)], pa.date32())).to_pylist() == ["2024-01-05"]
    out = as_text(pa.nulls(2))
    assert out.type == pa.string()
    assert out.to_pylist() == [None, None]


# --------------------------------------------------------------------------- JSON bodies and objects


def test_kv_json_body_with_key_prefix_for_lists_and_maps() -> None:
    lists = pa.array([[{"key": "env", "value": "prod"}, {"key": "x", "value": None}], [], None], pa.list_(KV))
    assert kv_json_body(lists, "label:").to_pylist() == ['"label:env":"prod","label:x":null', "", ""]
    maps = pa.array([[("env", "prod")], None], pa.map_(pa.string(), pa.string()))
    assert kv_json_body(maps, 'p"').to_pylist() == ['"p\\"env":"prod"', ""]
    assert kv_json_body(maps).to_pylist() == ['"env":"prod"', ""]


def test_kv_json_body_of_absent_column() -> None:
    assert kv_json_body(pa.nulls(2)).to_pylist() == ["", ""]
    assert kv_json_body(pa.nulls(2, pa.string())).to_pylist() == ["", ""]


def test_kv_json_body_rejects_other_shapes() -> None:
    with pytest.raises(ValueError, match="list of string"):
        kv_json_body(pa.array([["a"]], pa.list_(pa.string())))
    with pytest.raises(ValueError, match="from a string column"):
        kv_json_body(pa.array(["a"]))


def test_json_body_members() -> None:
    body = json_body([("a", pa.array(["1", None, None])), ('b"', pa.array([2, 3, None], pa.int64()))], 3)
    assert body.to_pylist() == ['"a":"1","b\\"":"2"', '"b\\"":"3"', ""]
    assert json_body([], 2).to_pylist() == ["", ""]


def test_wrap_json_merges_several_bodies() -> None:
    bodies = [
        pa.array(['"a":"1"', "", "", None, '"a":"1"']),
        pa.array(['"b":"2"', '"c":"3"', "", None, None]),
        pa.array(["", '"d":"4"', "", None, '"e":"5","f":"6"']),
    ]
    out = wrap_json(bodies, 5).to_pylist()
    assert out == ['{"a":"1","b":"2"}', '{"c":"3","d":"4"}', None, None, '{"a":"1","e":"5","f":"6"}']
    for v in out:
        if v is not None:
            json.loads(v)


def test_wrap_json_keeps_commas_inside_values() -> None:
    bodies = [pa.array(['"a":",,"']), pa.array(['"b":"x,,,y"']), pa.array([""])]
    out = wrap_json(bodies, 1).to_pylist()
    assert out == ['{"a":",,","b":"x,,,y"}']
    assert json.loads(out[0]) == {"a": ",,", "b": "x,,,y"}


def test_wrap_json_edge_cases() -> None:
    assert wrap_json([], 2).to_pylist() == [None, None]
    assert wrap_json([pa.array(["", '"k":"v"'])], 2).to_pylist() == [None, '{"k":"v"}']


def test_json_object() -> None:
    out = json_object([("k", pa.array(["v", None, "a,,b"])), ("z", pa.array([None, None, "\nx"]))], 3).to_pylist()
    assert out == ['{"k":"v"}', None, '{"k":"a,,b","z":"\\nx"}']
    # Blank values are no value: left out like nulls.
    assert json_object([("k", pa.array(["", " \n", "v"]))], 3).to_pylist() == [None, None, '{"k":"v"}']
    assert json_object([], 2).to_pylist() == [None, None]


def test_tags_from_prefix_columns_and_map_merge() -> None:
    prefixed = json_body([("team", pa.array(["a", None, None]))], 3)
    labels = kv_json_body(pa.array([[("env", "p")], [("env", "q")], []], pa.map_(pa.string(), pa.string())), "l:")
    assert wrap_json([prefixed, labels], 3).to_pylist() == ['{"team":"a","l:env":"p"}', '{"l:env":"q"}', None]


# --------------------------------------------------------------------------- list_parents


def test_list_parents_matches_list_flatten() -> None:
    arr = pa.array([[1, 2], [], None, [3]], pa.list_(pa.int64()))
    assert list_parents(arr).to_pylist() == [0, 0, 3]
    assert list_parents(arr.slice(1)).to_pylist() == [2]
    child = pa.array([1, 2, 3, 4], pa.int64())
    spanning = pa.ListArray.from_arrays(pa.array([0, 2, 4], pa.int32()), child, mask=pa.array([False, True]))
    assert list_parents(spanning).to_pylist() == [0, 0]
    assert list_parents(pa.array([], pa.list_(pa.int64()))).to_pylist() == []


def test_blank_to_null_text_kinds() -> None:
    from cloudops.focus.values import blank_to_null

    text = ["", " ", "\t\n", "a ", None, "\u00a0", "x", "\u3000 "]
    want = [None, None, None, "a ", None, None, "x", None]
    assert blank_to_null(pa.array(text)).to_pylist() == want
    assert blank_to_null(pa.array(text, pa.large_string())).to_pylist() == want
    assert blank_to_null(pa.array(text).dictionary_encode()).to_pylist() == want
    assert blank_to_null(pa.array(text).slice(3)).to_pylist() == want[3:]
    clean = pa.array(["a", None, "b"])
    assert blank_to_null(clean) is clean  # nothing to do: the same array back
    numbers = pa.array([1.0, None])
    assert blank_to_null(numbers) is numbers


def test_as_integer_text() -> None:
    from cloudops.focus.values import as_integer

    values, bad = as_integer(pa.array(["1", " 2 ", "", "  ", None, "x", "1.5"]))
    assert values.to_pylist() == [1, 2, None, None, None, None, None]
    assert bad.to_pylist() == [False, False, False, False, False, True, True]
