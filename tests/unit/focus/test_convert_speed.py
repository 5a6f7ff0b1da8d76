"""The conversion speed levers give exactly what the plain computations give (issue 10 item 4)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from cloudops.focus.expr import decimal_of, evaluate, parse_memo, timestamp_of
from cloudops.focus.rules import Expr
from cloudops.focus.unmapped import nested_json_text
from cloudops.focus.values import as_decimal

_ANCESTORS = pa.list_(pa.struct([("resource_name", pa.string()), ("display_name", pa.string())]))


def _dumps(arr: pa.Array) -> list[str | None]:
    return [None if v is None else json.dumps(v, default=str, sort_keys=True) for v in arr.to_pylist()]


@pytest.mark.parametrize(
    "arr",
    [
        pa.array(
            [
                [{"resource_name": "projects/1", "display_name": 'Shop "x" \\ y'}],
                [],
                None,
                [None, {"resource_name": None, "display_name": "a"}],
            ],
            _ANCESTORS,
        ),
        pa.array(
            [{"b": 1, "a": True, "c": [1, 2, None]}, None, {"b": None, "a": False, "c": None}],
            pa.struct([("b", pa.int64()), ("a", pa.bool_()), ("c", pa.list_(pa.int32()))]),
        ),
        pa.array([["café"], ["x"]]),  # non-ASCII: json.dumps escapes it (Python path)
        pa.array([[1.5], [2.0], None]),  # floats: Python's repr (Python path)
        pa.array([{"t": datetime(2024, 3, 5, tzinfo=UTC)}]),  # default=str (Python path)
    ],
)
def test_nested_json_text_is_json_dumps_of_each_row(arr: pa.Array) -> None:
    assert nested_json_text(arr).to_pylist() == _dumps(arr)
    for start, length in ((1, len(arr) - 1), (0, 1)):  # slices (offsets) too
        part = arr.slice(start, length)
        assert nested_json_text(part).to_pylist() == _dumps(part)


def test_parse_memo_parses_a_column_once_per_batch() -> None:
    batch = pa.record_batch({"cost": pa.array(["1.5", "2.25", None, "x"])})
    expr = Expr.model_validate({"from": "cost"})
    with parse_memo():
        first = decimal_of(evaluate(expr, batch)[0])
        again = decimal_of(evaluate(expr, batch)[0])  # a new Array object over the same buffers
        other = decimal_of(evaluate(expr, batch)[0], decimal_comma=True)  # other options: own parse
    assert again is first
    assert other is not first
    plain = as_decimal(batch.column(0))
    assert first[0].equals(plain[0])
    assert first[1].equals(plain[1])
    assert first[1].to_pylist() == [False, False, False, True]
    assert decimal_of(batch.column(0)) is not decimal_of(batch.column(0))  # no memo outside the block
    with parse_memo():
        stamps = timestamp_of(pa.array(["2024-03-05T00:00:00Z"]))
    assert stamps[0].to_pylist() == [datetime(2024, 3, 5, tzinfo=UTC)]


def _months(op: str, arr: pa.Array, **extra: object) -> tuple[list[object], list[bool] | None]:
    values, bad = evaluate(Expr.model_validate({op: {"from": "c", **extra}}), pa.record_batch({"c": arr}))
    return values.to_pylist(), None if bad is None else bad.to_pylist()


def test_month_arithmetic_over_dates_timestamps_and_text() -> None:
    stamps = pa.array([datetime(2023, 12, 31, 23, 59, tzinfo=UTC), None], pa.timestamp("us", tz="UTC"))
    dec, jan = datetime(2023, 12, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)
    assert _months("month_start", stamps) == ([dec, None], [False, False])
    assert _months("month_end", stamps) == ([jan, None], [False, False])
    assert _months("month_end", pa.array([date(2024, 2, 29)], pa.date32())) == (
        [datetime(2024, 3, 1, tzinfo=UTC)],
        [False],
    )
    text = pa.array(["2024-03", "202412", "2024-13", None, "abc"])
    start, bad = _months("month_start", text)
    assert start == [datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 12, 1, tzinfo=UTC), None, None, None]
    assert bad == [False, False, True, False, True]
    assert _months("month_end", text)[0][:2] == [datetime(2024, 4, 1, tzinfo=UTC), jan.replace(year=2025)]
    us = _months("month_end", pa.array(["12/31/2023", "bad"]), format=["%m/%d/%Y"])
    assert us == ([jan, None], [False, True])
