"""Typed values from source columns: exact decimals, UTC timestamps, text and JSON objects.

Every function works on whole Arrow arrays. Parsers return ``(values, bad)`` where
``bad`` marks non-null inputs that could not be parsed (their value is null).
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cloudops.focus.columns import DECIMAL, TIMESTAMP

__all__ = [
    "as_decimal",
    "as_text",
    "as_timestamp",
    "json_body",
    "json_object",
    "kv_json_body",
    "parse_decimal",
    "parse_timestamp",
    "wrap_json",
]

_WIDE = pa.decimal128(38, 18)
_WIDE_LIMIT = 1e20  # Decimal(38, 18) holds magnitudes below 10**20
_TEN_PLACES = Decimal("1e-10")
_NUMBER_RE = r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$"
_ISO_RE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
_NULL_STR = pa.scalar(None, pa.string())


def parse_decimal(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Parse decimal text (plain or exponent notation) to Decimal(38, 10), half-even rounded.

    Returns ``(values, bad)``: ``bad`` is True where a non-null input is not a number or
    does not fit; those positions are null in ``values``.
    """
    ok = pc.fill_null(pc.match_substring_regex(arr, _NUMBER_RE), True)
    bad = pc.invert(ok)
    clean = pc.if_else(ok, pc.utf8_trim_whitespace(arr), pa.scalar(None, pa.string()))
    # Arrow's string -> decimal cast wraps around silently for some large exponents
    # ("1e30" casts to a wrong 20-digit value), so screen out what the wide type cannot hold.
    too_big = pc.fill_null(pc.greater_equal(pc.abs(pc.cast(clean, pa.float64())), _WIDE_LIMIT), False)
    if pc.any(too_big).as_py():
        bad = pc.or_(bad, too_big)
        clean = pc.if_else(too_big, pa.scalar(None, pa.string()), clean)
    try:
        wide = pc.cast(clean, _WIDE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Rare slow path: some value has more than 18 decimals or does not fit Decimal(38, 18).
        # Round each once, straight to 10 places (no double rounding), with enough precision.
        items: list[Decimal | None] = []
        flags: list[bool] = []
        with localcontext() as ctx:
            ctx.prec = 100
            for v in clean.to_pylist():
                try:
                    d = None if v is None else Decimal(v).quantize(_TEN_PLACES, rounding=ROUND_HALF_EVEN)
                    pa.array([d], _WIDE)
                    items.append(d)
                    flags.append(False)
                except (ArithmeticError, pa.ArrowInvalid, ValueError):
                    items.append(None)
                    flags.append(True)
        wide = pa.array(items, _WIDE)
        bad = pc.or_(bad, pa.array(flags))
    values = pc.cast(pc.round(wide, 10, round_mode="half_to_even"), DECIMAL)
    return values, bad


def parse_timestamp(arr: pa.Array, fmt: str | None = None) -> tuple[pa.Array, pa.Array]:
    """Parse timestamps to UTC ``timestamp[us]``; ISO 8601 by default, else strptime ``fmt``.

    Values without a zone are taken as UTC. Returns ``(values, bad)`` like parse_decimal.
    """
    if fmt is not None:
        values = pc.strptime(arr, format=fmt, unit="us", error_is_null=True)
        if values.type.tz is None:
            values = pc.assume_timezone(values, "UTC")
        values = pc.cast(values, TIMESTAMP)
        bad = pc.and_(pc.is_valid(arr), pc.is_null(values))
        return values, bad
    ok = pc.fill_null(pc.match_substring_regex(arr, _ISO_RE), True)
    s = pc.if_else(ok, arr, pa.scalar(None, pa.string()))
    s = pc.replace_substring_regex(s, r"(\.\d{6})\d+", r"\1")  # Arrow parses up to microseconds
    s = pc.replace_substring_regex(s, r"^(\d{4}-\d{2}-\d{2})$", r"\1T00:00:00")
    has_zone = pc.fill_null(pc.match_substring_regex(s, r"(Z|[+-]\d{2}:?\d{2})$"), True)
    s = pc.if_else(has_zone, s, pc.binary_join_element_wise(s, pa.scalar("Z"), ""))
    bad = pc.invert(ok)
    try:
        values = pc.cast(s, TIMESTAMP)
    except pa.ArrowInvalid:
        parsed: list[Any] = []
        flags: list[bool] = []
        for v in s.to_pylist():
            try:
                parsed.append(None if v is None else pc.cast(pa.array([v]), TIMESTAMP)[0].as_py())
                flags.append(False)
            except pa.ArrowInvalid:
                parsed.append(None)
                flags.append(True)
        values = pa.array(parsed, TIMESTAMP)
        bad = pc.or_(bad, pa.array(flags))
    return values, bad


def _json_escape(arr: pa.Array) -> pa.Array:
    s = pc.replace_substring(arr, "\\", "\\\\")
    s = pc.replace_substring(s, '"', '\\"')
    s = pc.replace_substring(s, "\n", "\\n")
    s = pc.replace_substring(s, "\r", "\\r")
    s = pc.replace_substring(s, "\t", "\\t")
    return pc.replace_substring_regex(s, r"[\x00-\x1f]", " ")


def json_body(pairs: list[tuple[str, pa.Array]], n: int) -> pa.Array:
    """Per row, the members ``"k":"v",...`` of a JSON object (no braces; "" when all null)."""
    if not pairs:
        return pa.nulls(n, pa.string()).fill_null("")
    pieces = []
    for key, arr in pairs:
        prefix = json.dumps(key) + ':"'
        # Each member carries its own trailing comma (null when the value is null).
        pieces.append(pc.binary_join_element_wise(prefix, _json_escape(as_text(arr)), '",', ""))
    # Not null_handling="skip": Arrow drops rows whose values are all null in that mode,
    # which returns a shorter array (any untagged row). Join with nulls as "" instead.
    body = pc.binary_join_element_wise(*pieces, "", null_handling="replace", null_replacement="")
    return pc.utf8_rtrim(body, characters=",")


def kv_json_body(arr: pa.Array, key_prefix: str = "") -> pa.Array:
    """Per row, JSON members from a map column or a list of ``{key, value}`` records ("" if none)."""
    n = len(arr)
    if pa.types.is_map(arr.type):
        elems = pc.list_flatten(arr)  # struct<key, value>
        keys, values = elems.field(0), elems.field(1)
    elif pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        elems = pc.list_flatten(arr)
        if not pa.types.is_struct(elems.type) or elems.type.get_field_index("key") < 0:
            raise ValueError(f"cannot read key/value pairs from a list of {elems.type}")
        keys = elems.field("key")
        values = elems.field("value") if elems.type.get_field_index("value") >= 0 else pa.nulls(len(elems))
    elif pa.types.is_null(arr.type):
        return pa.nulls(n, pa.string()).fill_null("")
    else:
        raise ValueError(f"cannot read key/value pairs from a {arr.type} column")
    keys = as_text(keys)
    key_json = pc.binary_join_element_wise(
        '"', _json_escape(pc.binary_join_element_wise(key_prefix, keys, "")), '":', ""
    )
    val_text = as_text(values)
    val_json = pc.if_else(
        pc.is_null(val_text),
        pa.scalar("null"),
        pc.binary_join_element_wise('"', _json_escape(val_text), '"', ""),
    )
    members = pc.binary_join_element_wise(key_json, val_json, "")
    lengths = pc.fill_null(pc.list_value_length(arr), 0).to_numpy(zero_copy_only=False)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    grouped = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), members)
    return pc.fill_null(pc.binary_join(grouped, ","), "")


def wrap_json(bodies: list[pa.Array], n: int) -> pa.Array:
    """Join several member lists into one JSON object per row; null where there are no members."""
    if not bodies:
        return pa.nulls(n, pa.string())
    body = pc.binary_join_element_wise(*bodies, ",", null_handling="replace", null_replacement="")
    body = pc.replace_substring_regex(body, ",{2,}", ",")
    body = pc.utf8_trim(body, characters=",")
    obj = pc.binary_join_element_wise("{", body, "}", "")
    return pc.if_else(pc.equal(body, ""), _NULL_STR, obj)


def json_object(pairs: list[tuple[str, pa.Array]], n: int) -> pa.Array:
    """A JSON object per row from (key, column) pairs; null where every value is null."""
    return wrap_json([json_body(pairs, n)], n) if pairs else pa.nulls(n, pa.string())


def as_text(arr: pa.Array) -> pa.Array:
    """Any scalar column as text (timestamps in ISO 8601 UTC, numbers in shortest form)."""
    t = arr.type
    if pa.types.is_string(t):
        return arr
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    if pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        return pc.cast(arr, pa.string())
    if pa.types.is_timestamp(t):
        ts = arr if t.tz is not None else pc.assume_timezone(arr, "UTC")
        return pc.strftime(pc.cast(ts, TIMESTAMP), format="%Y-%m-%dT%H:%M:%SZ")
    if pa.types.is_boolean(t):
        return pc.if_else(arr, pa.scalar("true"), pa.scalar("false"))
    return pc.cast(arr, pa.string())


def as_decimal(arr: pa.Array, *, decimal_comma: bool = False) -> tuple[pa.Array, pa.Array]:
    """Any column as Decimal(38, 10) (text parsed, floats via their shortest text form)."""
    t = arr.type
    if pa.types.is_decimal(t):
        if t.precision - t.scale > 28:  # could overflow the target; go through text and screening
            return parse_decimal(pc.cast(arr, pa.string()))
        rounded = pc.round(arr, 10, round_mode="half_to_even") if t.scale > 10 else arr
        return pc.cast(rounded, DECIMAL), pa.nulls(len(arr), pa.bool_()).fill_null(False)
    if pa.types.is_integer(t):
        return pc.cast(pc.cast(arr, pa.decimal128(38, 0)), DECIMAL), pa.nulls(len(arr), pa.bool_()).fill_null(False)
    if pa.types.is_null(t):
        return pa.nulls(len(arr), DECIMAL), pa.nulls(len(arr), pa.bool_()).fill_null(False)
    text = as_text(arr)
    if decimal_comma:
        text = pc.replace_substring(text, ".", "")
        text = pc.replace_substring(text, ",", ".")
    return parse_decimal(text)


def as_timestamp(arr: pa.Array, fmt: str | list[str] | None = None) -> tuple[pa.Array, pa.Array]:
    """Any column as UTC timestamp[us] (text parsed as ISO 8601 or with ``fmt``)."""
    t = arr.type
    ok = pa.nulls(len(arr), pa.bool_()).fill_null(False)
    if pa.types.is_timestamp(t):
        ts = arr if t.tz is not None else pc.assume_timezone(arr, "UTC")
        return pc.cast(ts, TIMESTAMP), ok
    if pa.types.is_date(t):
        return pc.assume_timezone(pc.cast(arr, pa.timestamp("us")), "UTC"), ok
    if pa.types.is_null(t):
        return pa.nulls(len(arr), TIMESTAMP), ok
    text = as_text(arr)
    if isinstance(fmt, list):
        values, _ = parse_timestamp(text, fmt[0])
        for f in fmt[1:]:
            more, _ = parse_timestamp(text, f)
            values = pc.coalesce(values, more)
        return values, pc.and_(pc.is_valid(text), pc.is_null(values))
    return parse_timestamp(text, fmt)
