"""Source columns no rule reads: kept in ``x_Extensions``, so no column is ever dropped silently."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pyarrow as pa

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

    Used only for nested source columns no rule reads (e.g. an unmapped record field of a
    JSON-lines export); one ``json.dumps`` per row, so it costs Python time only when a
    source has such a column.
    """
    values = arr.to_pylist()
    return pa.array([None if v is None else json.dumps(v, default=str, sort_keys=True) for v in values], pa.string())
