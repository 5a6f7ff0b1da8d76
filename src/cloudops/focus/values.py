"""Typed values from source columns: exact decimals, UTC timestamps, text and JSON objects.

Every function works on whole Arrow arrays. Parsers return ``(values, bad)`` where
``bad`` marks non-null inputs that could not be parsed (their value is null).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from cloudops.focus.columns import DECIMAL, TIMESTAMP

__all__ = [
    "as_decimal",
    "as_integer",
    "as_text",
    "as_timestamp",
    "blank_to_null",
    "json_body",
    "json_object",
    "json_object_map",
    "kv_json_body",
    "list_parents",
    "parse_decimal",
    "parse_timestamp",
    "wrap_json",
]

_WIDE = pa.decimal128(38, 18)
_WIDE_LIMIT = 1e20  # Decimal(38, 18) holds magnitudes below 10**20
_TEN_PLACES = Decimal("1e-10")
_LONG_FRACTION = r"^[+-]?\d*\.\d{19,}$"  # plain notation with more decimals than Decimal(38, 18) holds
_NUMBER_RE = r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$"
_ISO_RE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
_NULL_STR = pa.scalar(None, pa.string())


# First bytes a whitespace-only UTF-8 string can start with: ASCII controls and space, and the
# lead bytes of U+0085/U+00A0 (C2), U+1680 (E1), U+2000-U+205F (E2) and U+3000 (E3).
_BLANK_LEAD = np.zeros(256, dtype=bool)
_BLANK_LEAD[:33] = True
_BLANK_LEAD[[0xC2, 0xE1, 0xE2, 0xE3]] = True


def blank_to_null(arr: pa.Array, *, whitespace: bool = True) -> pa.Array:
    """Empty and whitespace-only strings become null; any other array is returned unchanged.

    With ``whitespace=False`` only empty strings do (what the CSV reader reads as null).

    "No value" is written ``""`` by some exporters (CUR 2.0 Parquet rates, JSON lines) and as an
    empty field by CSV, which the CSV reader already reads as null: this makes every container
    agree. Columnar and cheap when there is nothing to do: one pass over the offsets and first
    bytes (numpy), and the exact Arrow check only when some value could be blank.
    """
    t = arr.type
    if pa.types.is_dictionary(t):
        blank = _blank_mask(arr.dictionary, whitespace)
        if blank is None:
            return arr
        hit = pc.fill_null(pc.take(blank, arr.indices), False)
        return pc.if_else(hit, pa.scalar(None, t.value_type), pc.cast(arr, t.value_type))
    blank = _blank_mask(arr, whitespace)
    if blank is None:
        return arr
    return pc.if_else(blank, pa.scalar(None, t), arr)


def _blank_mask(arr: pa.Array, whitespace: bool) -> pa.Array | None:
    """Where ``arr`` (string or large_string) holds a blank value; None if nowhere (or not text)."""
    t = arr.type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)) or len(arr) == 0:
        return None
    if isinstance(arr, pa.ChunkedArray):  # pragma: no cover - callers pass arrays
        arr = arr.combine_chunks()
    n = len(arr)
    buffers = arr.buffers()
    width = np.int64 if pa.types.is_large_string(t) else np.int32
    offsets = np.frombuffer(buffers[1], dtype=width, count=n + 1, offset=arr.offset * np.dtype(width).itemsize)
    starts = offsets[:-1]
    candidate = offsets[1:] == starts  # empty (or null)
    if whitespace and buffers[2] is not None and buffers[2].size:
        data = np.frombuffer(buffers[2], dtype=np.uint8)
        candidate |= _BLANK_LEAD[data[np.minimum(starts, data.size - 1)]]
    if arr.null_count:  # only valid values count: look their bits up in the validity bitmap
        pos = np.flatnonzero(candidate) + arr.offset
        bits = np.frombuffer(buffers[0], dtype=np.uint8)
        if not ((bits[pos >> 3] >> (pos & 7)) & 1).any():
            return None
    elif not candidate.any():
        return None
    blank = pc.equal(pc.binary_length(arr), 0)
    if whitespace:
        blank = pc.or_(blank, pc.utf8_is_space(arr))
    blank = pc.fill_null(blank, False)
    return blank if pc.any(blank).as_py() else None


def parse_decimal(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Parse decimal text (plain or exponent notation) to Decimal(38, 10), half-even rounded.

    Returns ``(values, bad)``: ``bad`` is True where a non-null input is not a number or
    does not fit; those positions are null in ``values``. Empty and whitespace-only text is
    null, not bad.
    """
    fast = _parse_decimal_fast(arr)
    if fast is not None:
        return fast
    arr = blank_to_null(arr)  # empty or whitespace-only text is no value, not a bad one
    ok = pc.fill_null(pc.match_substring_regex(arr, _NUMBER_RE), True)
    bad = pc.invert(ok)
    clean = pc.if_else(ok, pc.utf8_trim_whitespace(arr), pa.scalar(None, pa.string()))
    # Arrow's string -> decimal cast wraps around silently for some large exponents
    # ("1e30" casts to a wrong 20-digit value), so screen out what the wide type cannot hold.
    too_big = pc.fill_null(pc.greater_equal(pc.abs(pc.cast(clean, pa.float64())), _WIDE_LIMIT), False)
    if pc.any(too_big).as_py():
        bad = pc.or_(bad, too_big)
        clean = pc.if_else(too_big, pa.scalar(None, pa.string()), clean)
    if pc.any(pc.match_substring_regex(clean, _LONG_FRACTION)).as_py():
        # More decimals than Decimal(38, 18) takes (Azure writes costs such as
        # 0.0000000072922557592391990000). Only the value rounded to 10 places is kept, so keep 17
        # decimals and a sticky 18th digit (1 if any dropped digit is non-zero): half-even rounding
        # to 10 places gives exactly what the full value gives, and the columnar cast still applies.
        clean = pc.replace_substring_regex(clean, r"^([+-]?\d*\.\d{17})0+$", r"\1")
        clean = pc.replace_substring_regex(clean, r"^([+-]?\d*\.\d{17})\d+$", r"\11")
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


def _parse_decimal_fast(arr: pa.Array) -> tuple[pa.Array, pa.Array] | None:
    """The common case in two casts: every value is a plain number of modest size with at most
    18 decimals. Returns None (use the careful path) as soon as anything is unusual."""
    try:
        magnitude = pc.max(pc.abs(pc.cast(arr, pa.float64()))).as_py()
        if magnitude is not None and not magnitude < _WIDE_LIMIT:  # also catches nan/inf
            return None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    try:  # at most 10 decimals (the usual case): the cast is exact, no rounding needed
        return pc.cast(arr, DECIMAL), pa.nulls(len(arr), pa.bool_()).fill_null(False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass  # more decimals than the target keeps: parse wide, then round half-even
    try:
        wide = pc.cast(arr, _WIDE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    values = pc.cast(pc.round(wide, 10, round_mode="half_to_even"), DECIMAL)
    return values, pa.nulls(len(arr), pa.bool_()).fill_null(False)


def parse_timestamp(arr: pa.Array, fmt: str | None = None) -> tuple[pa.Array, pa.Array]:
    """Parse timestamps to UTC ``timestamp[us]``; ISO 8601 by default, else strptime ``fmt``.

    Values without a zone are taken as UTC. Returns ``(values, bad)`` like parse_decimal
    (empty and whitespace-only text is null, not bad).
    """
    if fmt is not None:
        values = pc.strptime(arr, format=fmt, unit="us", error_is_null=True)
        if values.type.tz is None:
            values = pc.assume_timezone(values, "UTC")
        values = pc.cast(values, TIMESTAMP)
        return values, _unparsed(arr, values)
    try:  # the usual case: every value is ISO 8601 with a zone (Z or an offset)
        return pc.cast(arr, TIMESTAMP), pa.nulls(len(arr), pa.bool_()).fill_null(False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    arr = blank_to_null(arr)
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


def _needs_escape(arr: pa.Array) -> bool:
    """Whether some text value may hold a byte JSON escapes (quote, backslash, control character).

    One numpy pass over the bytes the values span (null slots included: it may say yes for
    nothing, never no for something); other than string arrays always yes.
    """
    n = len(arr)
    if n == 0:
        return False
    if not pa.types.is_string(arr.type):
        return True
    buffers = arr.buffers()
    if buffers[2] is None or buffers[2].size == 0:
        return False
    offsets = np.frombuffer(buffers[1], dtype=np.int32, count=n + 1, offset=arr.offset * 4)
    data = np.frombuffer(buffers[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return bool(data.size) and bool(data.min() < 0x20 or (data == 0x22).any() or (data == 0x5C).any())


def _json_escape(arr: pa.Array) -> pa.Array:
    if not _needs_escape(arr):
        return arr  # nothing to escape (the usual case): one scan instead of six
    s = pc.replace_substring(arr, "\\", "\\\\")
    s = pc.replace_substring(s, '"', '\\"')
    s = pc.replace_substring(s, "\n", "\\n")
    s = pc.replace_substring(s, "\r", "\\r")
    s = pc.replace_substring(s, "\t", "\\t")
    return pc.replace_substring_regex(s, r"[\x00-\x1f]", " ")


def json_body(pairs: list[tuple[str, pa.Array]], n: int) -> pa.Array:
    """Per row, the members ``"k":"v",...`` of a JSON object (no braces; "" when all null).

    Null and blank (empty or whitespace-only) values are left out: no value, as an empty CSV field.
    """
    if not pairs:
        return pa.nulls(n, pa.string()).fill_null("")
    pieces = []
    for key, arr in pairs:
        prefix = json.dumps(key) + ':"'
        # Each member carries its own trailing comma (null when the value is null).
        text = blank_to_null(as_text(arr))
        pieces.append(pc.binary_join_element_wise(prefix, _json_escape(text), '",', ""))
    # Not null_handling="skip": Arrow drops rows whose values are all null in that mode,
    # which returns a shorter array (any untagged row). Join with nulls as "" instead.
    body = pc.binary_join_element_wise(*pieces, "", null_handling="replace", null_replacement="")
    return pc.utf8_rtrim(body, characters=",")


def list_parents(arr: pa.Array) -> pa.Array:
    """Per element of ``pc.list_flatten(arr)``, the index of its row (int64).

    Unlike ``pc.list_parent_indices``, consistent with ``list_flatten`` for null lists
    that still span values (flatten skips those).
    """
    lengths = pc.fill_null(pc.list_value_length(arr), 0).to_numpy(zero_copy_only=False)
    return pa.array(np.repeat(np.arange(len(arr), dtype=np.int64), lengths), pa.int64())


def _rename_prefixes(keys: pa.Array, renames: Mapping[str, str]) -> pa.Array:
    """Replace the first matching key prefix (judged on the original key) by its replacement."""
    out = keys
    done = pa.nulls(len(keys), pa.bool_()).fill_null(False)
    for src, dst in renames.items():
        hit = pc.and_(pc.fill_null(pc.starts_with(keys, src), False), pc.invert(done))
        renamed = pc.binary_join_element_wise(dst, pc.utf8_slice_codeunits(keys, len(src)), "")
        out = pc.if_else(hit, renamed, out)
        done = pc.or_(done, hit)
    return out


def kv_json_body(arr: pa.Array, key_prefix: str = "", rename_prefixes: Mapping[str, str] | None = None) -> pa.Array:
    """Per row, JSON members from a map column or a list of ``{key, value}`` records ("" if none).

    ``rename_prefixes`` rewrites key prefixes first (e.g. ``{"user_": ""}``), then ``key_prefix``
    is put in front of every key.
    """
    n = len(arr)
    if pa.types.is_map(arr.type):
        # Arrow has no list kernels for maps (and MapArray.flatten aborts on slices): view as a list.
        t = arr.type
        entry = pa.struct([pa.field("key", t.key_type), pa.field("value", t.item_type)])
        arr = pc.cast(arr, pa.list_(entry))
    if arr.null_count == n:  # no pairs at all (also a column missing from the file)
        return pa.nulls(n, pa.string()).fill_null("")
    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        elems = pc.list_flatten(arr)
        if not pa.types.is_struct(elems.type) or elems.type.get_field_index("key") < 0:
            raise ValueError(f"cannot read key/value pairs from a list of {elems.type}")
        # struct_field, not .field(): a null element must give a null key (skipped below).
        keys = pc.struct_field(elems, "key")
        has_value = elems.type.get_field_index("value") >= 0
        values = pc.struct_field(elems, "value") if has_value else pa.nulls(len(elems))
    else:
        raise ValueError(f"cannot read key/value pairs from a {arr.type} column")
    keys = as_text(keys)
    if rename_prefixes:
        keys = _rename_prefixes(keys, rename_prefixes)
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
    # Pairs without a key are skipped (a null member would blank the whole row's object).
    keep = pc.is_valid(members)
    parents = list_parents(arr)
    if not pc.all(keep).as_py():
        members, parents = members.filter(keep), parents.filter(keep)
    lengths = np.bincount(parents.to_numpy(zero_copy_only=False), minlength=n)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    grouped = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), members)
    return pc.fill_null(pc.binary_join(grouped, ","), "")


_TEXT_MAP = pa.map_(pa.string(), pa.string())
_TEMPORAL = (pa.types.is_timestamp, pa.types.is_date, pa.types.is_time)


def json_object_map(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
    """JSON object text -> ``map<string, string>`` (map and list columns pass through unchanged).

    Member values become text: strings as they are, numbers and booleans in their JSON
    spelling, nested values as JSON text; members whose value is JSON null are dropped.
    Returns ``(maps, bad)``: ``bad`` marks non-null text that is not a JSON object (its map
    is null). Columnar (Arrow's JSON reader) unless some row needs the exact slow path.
    """
    n = len(arr)
    no = pa.nulls(n, pa.bool_()).fill_null(False)
    t = arr.type
    if pa.types.is_map(t) or pa.types.is_list(t) or pa.types.is_large_list(t):
        return arr, no
    if pa.types.is_null(t):
        return pa.nulls(n, _TEXT_MAP), no
    text = as_text(arr)
    try:
        return _json_maps_columnar(text), no
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError):
        return _json_maps_rowwise(text)


def _json_maps_columnar(text: pa.Array) -> pa.Array:
    n = len(text)
    valid = pc.is_valid(text)
    # Raw line breaks can only be whitespace between JSON tokens: one object per line.
    flat = pc.utf8_trim_whitespace(pc.replace_substring_regex(pc.fill_null(text, "{}"), r"[\r\n]+", " "))
    shaped = pc.and_(pc.starts_with(flat, "{"), pc.ends_with(flat, "}"))
    if not pc.all(shaped).as_py():
        raise ValueError("not every value is a JSON object")
    lines = pa.ListArray.from_arrays(pa.array([0, n], pa.int32()), flat)
    data = pc.binary_join(lines, "\n")[0].as_buffer()
    opts = pajson.ReadOptions(use_threads=False, block_size=max(1 << 20, data.size + 1))
    table = pajson.read_json(pa.BufferReader(data), read_options=opts)
    if any(is_t(f.type) for f in table.schema for is_t in _TEMPORAL):
        # Arrow infers timestamps from strings; read those members again as plain text.
        schema = pa.schema(
            [pa.field(f.name, pa.string() if any(is_t(f.type) for is_t in _TEMPORAL) else f.type) for f in table.schema]
        )
        parse = pajson.ParseOptions(explicit_schema=schema)
        table = pajson.read_json(pa.BufferReader(data), read_options=opts, parse_options=parse)
    if table.num_rows != n:
        raise ValueError("row count changed while reading JSON objects")
    rows: list[pa.Array] = []
    keys: list[pa.Array] = []
    values: list[pa.Array] = []
    for name, chunked in zip(table.column_names, table.columns, strict=True):
        col = chunked.combine_chunks()
        if pa.types.is_null(col.type):
            continue
        if pa.types.is_nested(col.type):
            raise ValueError("nested JSON values")
        txt = as_text(col)
        present = pc.is_valid(txt)
        idx = pc.indices_nonzero(present)
        if len(idx):
            rows.append(pc.cast(idx, pa.int64()))
            keys.append(pa.nulls(len(idx), pa.string()).fill_null(name))
            values.append(txt.filter(present))
    if rows:
        row = pa.concat_arrays(rows)
        order = pc.sort_indices(row)  # stable: members keep their column order within a row
        key_arr = pa.concat_arrays(keys).take(order)
        value_arr = pa.concat_arrays(values).take(order)
        counts = np.bincount(row.to_numpy(), minlength=n)
    else:
        key_arr = pa.array([], pa.string())
        value_arr = pa.array([], pa.string())
        counts = np.zeros(n, dtype=np.int64)
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32), pa.int32())
    return pa.MapArray.from_arrays(offsets, key_arr, value_arr, type=_TEXT_MAP, mask=pc.invert(valid))


def _json_maps_rowwise(text: pa.Array) -> tuple[pa.Array, pa.Array]:
    items: list[list[tuple[str, str]] | None] = []
    flags: list[bool] = []
    for v in text.to_pylist():
        obj: Any = None
        if v is not None:
            try:
                obj = json.loads(v)
            except ValueError:
                obj = None
        if v is None or not isinstance(obj, dict):
            items.append(None)
            flags.append(v is not None)
            continue
        members = [(str(k), x if isinstance(x, str) else json.dumps(x)) for k, x in obj.items() if x is not None]
        items.append(members)
        flags.append(False)
    return pa.array(items, _TEXT_MAP), pa.array(flags, pa.bool_())


def wrap_json(bodies: list[pa.Array], n: int) -> pa.Array:
    """Join several member lists into one JSON object per row; null where there are no members."""
    if not bodies:
        return pa.nulls(n, pa.string())
    # Join the non-empty bodies one by one: never edit the text (values may hold ",,").
    body = pa.nulls(n, pa.string())
    for more in bodies:
        more = pc.if_else(pc.equal(more, ""), _NULL_STR, more)
        body = pc.coalesce(pc.binary_join_element_wise(body, more, ","), body, more)
    return pc.binary_join_element_wise("{", body, "}", "")


def json_object(pairs: list[tuple[str, pa.Array]], n: int) -> pa.Array:
    """A JSON object per row from (key, column) pairs; null where every value is null.

    The same text as ``wrap_json([json_body(pairs, n)], n)`` (null and blank values left out),
    built for many sparse columns (x_Extensions): a column without a value in the batch costs
    nothing, and the object is written in one join of per-column members, each carrying the
    comma that separates it from an earlier member of its row.
    """
    members: list[tuple[str, pa.Array]] = []
    for key, arr in pairs:
        if arr.null_count == len(arr):
            continue
        text = _json_escape(blank_to_null(as_text(arr)))
        if text.null_count < n:
            members.append((json.dumps(key) + ':"', text))
    if not members:
        return pa.nulls(n, pa.string())
    seen = np.zeros(n, dtype=bool)  # rows that already have a member
    pieces: list[pa.Array | str] = []
    for key, text in members:
        if seen.all():
            prefix: pa.Array | str = "," + key
        elif not seen.any():
            prefix = key
        else:
            prefix = pc.if_else(pa.array(seen), pa.scalar("," + key), pa.scalar(key))
        if text.null_count == 0 and isinstance(prefix, str):
            pieces += [prefix, text, '"']  # a value on every row: joined as it is, no copy
        else:
            pieces.append(pc.binary_join_element_wise(prefix, text, '"', ""))  # null where the value is
        seen |= pc.is_valid(text).to_numpy(zero_copy_only=False) if text.null_count else True
    body = pc.binary_join_element_wise("{", *pieces, "}", "", null_handling="replace", null_replacement="")
    if seen.all():
        return body
    if body.offset == 0 and body.buffers()[0] is None:  # rows without a member ("{}") become null
        validity = pa.py_buffer(np.packbits(seen, bitorder="little"))
        return pa.Array.from_buffers(pa.string(), n, [validity, *body.buffers()[1:]], null_count=int(n - seen.sum()))
    return pc.if_else(pa.array(seen), body, _NULL_STR)


_NAIVE_US = pa.timestamp("us")
_NAIVE_S = pa.timestamp("s")


def _timestamp_text(arr: pa.Array) -> pa.Array:
    """ISO 8601 UTC text (``2024-01-31T00:00:00Z``; a fraction only where there is one) of timestamps.

    A zone-naive value is taken as UTC. The values are formatted as zone-naive UTC: Arrow
    formats a timestamp with a zone through the time-zone database, value by value, 20-50 times
    slower (about 6 us a value: a second per 160,000 dates) for the same digits.
    """
    t = arr.type
    if t.tz is not None and t.tz not in ("UTC", "Z", "+00:00", "Etc/UTC"):
        arr = pc.cast(arr, pa.timestamp(t.unit, "UTC"))  # (the instant is the same; only the label)
    # Nanoseconds are truncated to microseconds (a safe cast would raise on them).
    micros = pc.cast(arr.view(pa.timestamp(t.unit)), _NAIVE_US, safe=t.unit != "ns")
    ticks = micros.view(pa.int64())
    whole = pc.all(pc.equal(pc.subtract(ticks, pc.multiply(pc.divide(ticks, 1_000_000), 1_000_000)), 0)).as_py()
    if whole is not False:  # every value in whole seconds (the usual case), or no value at all
        text = pc.cast(pc.cast(micros, _NAIVE_S), pa.string())  # "2024-01-31 00:00:00"
    else:
        text = pc.replace_substring_regex(pc.cast(micros, pa.string()), r"\.0{6}$", "")
    return pc.binary_join_element_wise(pc.replace_substring(text, " ", "T", max_replacements=1), "Z", "")


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
        return _timestamp_text(arr)
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
    if pa.types.is_floating(t):
        magnitude = pc.max(pc.abs(arr)).as_py()
        if magnitude is None or magnitude < _WIDE_LIMIT:  # finite and modest (nan fails the test)
            try:  # a float's shortest text with at most 10 decimals (the usual case): one exact cast
                return pc.cast(text, DECIMAL), pa.nulls(len(arr), pa.bool_()).fill_null(False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
    # Only text is written with a decimal comma; a float's text (1.5) must not lose its point.
    if decimal_comma and (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t)):
        text = pc.replace_substring(text, ".", "")
        text = pc.replace_substring(text, ",", ".")
    return parse_decimal(text)


def as_integer(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Any column as int64 (text parsed; blank text is null). Returns ``(values, bad)``."""
    t = arr.type
    no = pa.nulls(len(arr), pa.bool_()).fill_null(False)
    if pa.types.is_integer(t) or pa.types.is_null(t):
        return pc.cast(arr, pa.int64()), no
    text = blank_to_null(as_text(arr))
    try:
        return pc.cast(text, pa.int64()), no
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    ok = pc.fill_null(pc.match_substring_regex(text, r"^\s*[+-]?\d{1,18}\s*$"), True)
    clean = pc.if_else(ok, pc.utf8_trim_whitespace(text), _NULL_STR)
    return pc.cast(clean, pa.int64()), pc.invert(ok)


def as_timestamp(arr: pa.Array, fmt: str | list[str] | None = None) -> tuple[pa.Array, pa.Array]:
    """Any column as UTC timestamp[us] (text parsed as ISO 8601 or with ``fmt``)."""
    t = arr.type
    ok = pa.nulls(len(arr), pa.bool_()).fill_null(False)
    if pa.types.is_timestamp(t):
        ts = arr if t.tz is not None else pc.assume_timezone(arr, "UTC")
        # Nanoseconds are truncated to microseconds (a safe cast would raise on them).
        return pc.cast(ts, TIMESTAMP, safe=t.unit != "ns"), ok
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
        return values, _unparsed(text, values)
    return parse_timestamp(text, fmt)


def _unparsed(text: pa.Array, values: pa.Array) -> pa.Array:
    """Where non-blank ``text`` gave no value (blank text is no value, not a bad one)."""
    bad = pc.and_(pc.is_valid(text), pc.is_null(values))
    if pc.any(bad).as_py():  # rare: only then look for blanks
        bad = pc.and_(pc.is_valid(blank_to_null(text)), pc.is_null(values))
    return bad
