"""Nested source values: Arrow types written in rules files, and text parsed into nested values.

Two rules features use this module:

* ``json_types`` - the Arrow types of a format's nested (or often-null) fields, written in
  a small notation: ``string``, ``float64``, ``int64``, ``bool``, ``decimal(P,S)``,
  ``timestamp`` (UTC, microseconds), ``{field: TYPE, ...}`` for a record and ``[TYPE]``
  for a list. JSON-lines files are read with these types (Arrow otherwise guesses each
  field's type from the first block, and a field that is empty or null all through that
  block cannot hold a value later); a field that arrives as JSON text instead (a CSV
  flattening of a nested export, e.g. ``TO_JSON_STRING(credits)``) is parsed into its type.
* ``kv_lists`` - a text column of delimited ``key:value`` pairs (e.g. Alibaba's
  ``k1:v1;k2:v2`` instance tags) becomes a list of ``{key, value}`` records, which
  ``tags.maps`` and ``json_of`` read like any other key/value list.

Everything is columnar (Arrow kernels and Arrow's JSON reader); only a batch holding
malformed JSON is parsed again row by row, to find and reject exactly the bad rows.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

__all__ = [
    "arrow_type",
    "json_schema",
    "nested_paths",
    "parse_json_text",
    "split_kv_text",
]

_SCALARS: dict[str, pa.DataType] = {
    "string": pa.string(),
    "float64": pa.float64(),
    "int64": pa.int64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
_DECIMAL_RE = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
KV_TYPE = pa.list_(pa.struct([pa.field("key", pa.string()), pa.field("value", pa.string())]))


def arrow_type(spec: Any) -> pa.DataType:
    """The Arrow type for a type written in a rules file; ValueError if it is not one."""
    if isinstance(spec, str):
        name = spec.strip()
        if name in _SCALARS:
            return _SCALARS[name]
        m = _DECIMAL_RE.match(name)
        if m:
            precision, scale = int(m.group(1)), int(m.group(2))
            if not 0 < precision <= 38 or scale > precision:
                raise ValueError(f"decimal({precision},{scale}) is not a valid decimal type")
            return pa.decimal128(precision, scale)
        raise ValueError(f"unknown type {spec!r} (use {', '.join(_SCALARS)}, decimal(P,S), {{...}} or [...])")
    if isinstance(spec, dict):
        if not spec:
            raise ValueError("a record type needs at least one field")
        return pa.struct([pa.field(str(k), arrow_type(v)) for k, v in spec.items()])
    if isinstance(spec, list):
        if len(spec) != 1:
            raise ValueError("a list type is written [TYPE], with exactly one element type")
        return pa.list_(arrow_type(spec[0]))
    raise ValueError(f"cannot read a type from {spec!r}")


def json_schema(types: dict[str, Any]) -> pa.Schema:
    """The explicit schema for reading JSON lines (top-level fields of ``json_types``)."""
    return pa.schema([pa.field(name, arrow_type(spec)) for name, spec in types.items()])


def nested_paths(types: dict[str, Any]) -> dict[str, pa.DataType]:
    """Dotted column name -> type, for every list or record in ``json_types`` (records' fields too)."""
    out: dict[str, pa.DataType] = {}

    def walk(path: str, t: pa.DataType) -> None:
        if pa.types.is_list(t) or pa.types.is_struct(t):
            out[path] = t
        if pa.types.is_struct(t):
            for f in t:
                walk(f"{path}.{f.name}", f.type)

    for name, spec in types.items():
        walk(name, arrow_type(spec))
    return out


def _text(arr: pa.Array) -> pa.Array:
    if pa.types.is_string(arr.type):
        return arr
    return pc.cast(arr, pa.string())


def parse_json_text(arr: pa.Array, typ: pa.DataType) -> tuple[pa.Array, pa.Array]:
    """JSON text -> values of ``typ``; returns ``(values, bad)``.

    Empty text and null are null. ``bad`` marks text that is not JSON of that shape (its
    value is null), so the caller can reject those rows with a reason.
    """
    n = len(arr)
    no = pa.nulls(n, pa.bool_()).fill_null(False)
    if n == 0 or arr.null_count == n or pa.types.is_null(arr.type):
        return pa.nulls(n, typ), no
    # A raw line break can only be whitespace between JSON tokens: one document per line.
    text = pc.utf8_trim_whitespace(pc.replace_substring_regex(_text(arr), r"[\r\n]+", " "))
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    try:
        return _parse_columnar(text, typ), no
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError):
        return _parse_rowwise(text, typ)


def _read(data: pa.Buffer, typ: pa.DataType) -> pa.Table:
    opts = pajson.ReadOptions(use_threads=False, block_size=max(1 << 20, data.size + 1))
    parse = pajson.ParseOptions(explicit_schema=pa.schema([("v", typ)]), unexpected_field_behavior="error")
    return pajson.read_json(pa.BufferReader(data), read_options=opts, parse_options=parse)


def _parse_columnar(text: pa.Array, typ: pa.DataType) -> pa.Array:
    n = len(text)
    docs = pc.binary_join_element_wise('{"v":', pc.fill_null(text, "null"), "}", "")
    lines = pa.ListArray.from_arrays(pa.array([0, n], pa.int32()), docs)
    data = pc.binary_join(lines, "\n")[0].as_buffer()
    table = _read(data, typ)
    if table.num_rows != n:
        raise ValueError("row count changed while reading JSON text")
    return table.column("v").combine_chunks()


def _parse_rowwise(text: pa.Array, typ: pa.DataType) -> tuple[pa.Array, pa.Array]:
    values: list[Any] = []
    flags: list[bool] = []
    for v in text.to_pylist():
        if v is None:
            values.append(None)
            flags.append(False)
            continue
        try:
            table = _read(pa.py_buffer(('{"v":' + v + "}").encode("utf-8")), typ)
            if table.num_rows != 1:
                raise ValueError("not one JSON document")
            values.append(table.column("v")[0].as_py())
            flags.append(False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError):
            values.append(None)
            flags.append(True)
    return pa.array(values, typ), pa.array(flags, pa.bool_())


def split_kv_text(arr: pa.Array, pairs: str = ";", kv: str = ":") -> pa.Array:
    """``k1:v1;k2:v2`` text -> a list of ``{key, value}`` records per row.

    Pairs are split on ``pairs``, each pair on the first ``kv``; keys and values are
    trimmed; empty pairs and pairs without a key are dropped; a pair without ``kv`` has
    a null value. Null text gives a null list.
    """
    n = len(arr)
    if n == 0 or arr.null_count == n or pa.types.is_null(arr.type):
        return pa.nulls(n, KV_TYPE)
    text = _text(arr)
    split = pc.split_pattern(text, pairs)
    lengths = pc.fill_null(pc.list_value_length(split), 0).to_numpy(zero_copy_only=False)
    parents = np.repeat(np.arange(n, dtype=np.int64), lengths)
    items = pc.utf8_trim_whitespace(pc.list_flatten(split))
    parts = pc.extract_regex(items, rf"^(?P<key>.*?)(?:{re.escape(kv)}(?P<value>.*))?$")
    keys = pc.utf8_trim_whitespace(pc.struct_field(parts, "key"))
    values = pc.utf8_trim_whitespace(pc.struct_field(parts, "value"))
    has_sep = pc.fill_null(pc.match_substring(items, kv), False)
    values = pc.if_else(has_sep, values, pa.scalar(None, pa.string()))
    keep = pc.fill_null(pc.not_equal(keys, ""), False)
    keep_np = keep.to_numpy(zero_copy_only=False)
    counts = np.bincount(parents[keep_np], minlength=n)
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32), pa.int32())
    records = pa.StructArray.from_arrays([keys.filter(keep), values.filter(keep)], fields=list(KV_TYPE.value_type))
    return pa.ListArray.from_arrays(offsets, records, type=KV_TYPE, mask=pc.is_null(text))


def prepare_nested(
    raw: pa.RecordBatch, types: dict[str, Any], kv_lists: dict[str, tuple[str, str]]
) -> tuple[pa.RecordBatch, list[tuple[str, pa.Array]]]:
    """Parse the text columns named by ``json_types`` and ``kv_lists`` into nested values.

    Returns the batch and, per column with malformed JSON, ``(column, bad_mask)``. A
    record parsed from text is flattened to dotted columns, as the readers do.
    """
    problems: list[tuple[str, pa.Array]] = []
    if types:
        for path, typ in nested_paths(types).items():
            i = raw.schema.get_field_index(path)
            if i < 0:
                continue
            col = raw.column(i)
            if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_null(col.type)):
                continue
            values, bad = parse_json_text(col, typ)
            if pc.any(bad).as_py():
                problems.append((path, bad))
            raw = _replace(raw, i, path, values)
    for name, (pair_sep, kv_sep) in kv_lists.items():
        i = raw.schema.get_field_index(name)
        if i < 0:
            continue
        col = raw.column(i)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_null(col.type):
            raw = raw.set_column(i, pa.field(name, KV_TYPE), split_kv_text(col, pair_sep, kv_sep))
    return raw, problems


def _replace(raw: pa.RecordBatch, i: int, path: str, values: pa.Array) -> pa.RecordBatch:
    if not pa.types.is_struct(values.type):
        return raw.set_column(i, pa.field(path, values.type), values)
    flat = pa.Table.from_arrays([values], names=[path])
    while any(pa.types.is_struct(f.type) for f in flat.schema):
        flat = flat.flatten()
    raw = raw.remove_column(i)
    for name, chunked in zip(flat.column_names, flat.columns, strict=True):
        if raw.schema.get_field_index(name) < 0:
            raw = raw.append_column(name, chunked.combine_chunks())
    return raw
