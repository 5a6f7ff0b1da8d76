"""Source columns no rule reads: kept in ``x_Extensions``, so no column is ever dropped silently."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cloudops.focus.rules import FormatRules

__all__ = ["nested_json_text", "unmapped_columns"]

_CACHE: dict[tuple[int, tuple[str, ...]], tuple[FormatRules, list[str]]] = {}


def unmapped_columns(rules: FormatRules, names: Sequence[str]) -> list[str]:
    """Source columns (canonical names) that no part of ``rules`` reads, in header order.

    A column counts as read when an expression, a case condition, a tag source (prefix or
    map), an explicit extension, an extension prefix or an explode list uses it. The
    converter keeps the others in ``x_Extensions`` (as ``x_<name>``; ``x_`` names as they
    are) and ``cloudops convert`` lists them. Pure; cached per rules object and header.
    """
    key = (id(rules), tuple(names))
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is rules:
        return hit[1]
    used = rules.source_columns()
    prefixes = tuple(rules.extension_prefixes) + (tuple(rules.tags.prefixes) if rules.tags else ())
    out = [
        n
        for n in names
        if n not in used
        and not (prefixes and n.startswith(prefixes))
        and n != "item"
        and not n.startswith("item.")  # an exploded element's fields (e.g. GCP credits), not source columns
    ]
    if len(_CACHE) > 1024:
        _CACHE.clear()
    _CACHE[key] = (rules, out)
    return out


def nested_json_text(arr: pa.Array) -> pa.Array:
    """A struct or list column as JSON text per row (null stays null).

    Used only for nested source columns no rule reads (e.g. GCP's ``project.ancestors``). The
    text is exactly ``json.dumps(value, default=str, sort_keys=True)`` of the row's Python value.
    Columnar (Arrow kernels) when every leaf is text, integer or boolean and the text is printable
    ASCII (the usual case); otherwise one ``json.dumps`` per row.
    """
    text = _json_columnar(arr)
    if text is not None:
        return text
    values = arr.to_pylist()
    return pa.array([None if v is None else json.dumps(v, default=str, sort_keys=True) for v in values], pa.string())


_NULL_TEXT = pa.scalar(None, pa.string())


def _printable_ascii(arr: pa.Array) -> bool:
    """Whether every byte the string values span is printable ASCII (space to ``~``)."""
    if len(arr) == 0:
        return True
    buffers = arr.buffers()
    if buffers[2] is None or buffers[2].size == 0:
        return True
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(buffers[1], dtype=width, count=len(arr) + 1, offset=arr.offset * np.dtype(width).itemsize)
    data = np.frombuffer(buffers[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return not data.size or bool(data.min() >= 0x20 and data.max() <= 0x7E)


def _json_columnar(arr: pa.Array) -> pa.Array | None:
    """Per element, the ``json.dumps`` text of its value (null where the element is null); None
    when some part needs Python's rules (floats, dates, non-ASCII or control characters, ...)."""
    t = arr.type
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        if not _printable_ascii(arr):
            return None  # json.dumps escapes these as \uXXXX: leave it to Python
        s = pc.cast(arr, pa.string())
        s = pc.replace_substring(s, "\\", "\\\\")
        s = pc.replace_substring(s, '"', '\\"')
        return pc.binary_join_element_wise('"', s, '"', "")
    if pa.types.is_boolean(t):
        return pc.if_else(arr, pa.scalar("true"), pa.scalar("false"))
    if pa.types.is_integer(t):
        return pc.cast(arr, pa.string())
    if pa.types.is_struct(t):
        names = [t.field(i).name for i in range(t.num_fields)]
        if len(set(names)) != len(names):
            return None
        pieces: list[pa.Array] = []
        for name in sorted(names):
            child = _json_columnar(pc.struct_field(arr, name))
            if child is None:
                return None
            sep = ", " if pieces else ""
            pieces.append(pc.binary_join_element_wise(sep + json.dumps(name) + ": ", pc.fill_null(child, "null"), ""))
        body = pc.binary_join_element_wise(*pieces, "") if pieces else pa.nulls(len(arr), pa.string()).fill_null("")
        obj = pc.binary_join_element_wise("{", body, "}", "")
        return pc.if_else(pc.is_valid(arr), obj, _NULL_TEXT) if arr.null_count else obj
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        elems = _json_columnar(pc.list_flatten(arr))
        if elems is None:
            return None
        lengths = pc.fill_null(pc.list_value_length(arr), 0).to_numpy(zero_copy_only=False)
        offsets = np.zeros(len(arr) + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        lists = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pc.fill_null(elems, "null"))
        joined = pc.binary_join_element_wise("[", pc.binary_join(lists, ", "), "]", "")
        return pc.if_else(pc.is_valid(arr), joined, _NULL_TEXT) if arr.null_count else joined
    return None
