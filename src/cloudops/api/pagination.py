"""Cursor pagination: opaque ``cursor`` in, ``next_cursor`` out, stable under inserts.

A cursor is the sort key of the last item of a page (base64url of JSON, Decimals and
datetimes tagged so they decode to themselves), never an offset: an item added or removed
between two pages neither repeats nor skips the others. Items must come sorted by their key
(ascending, or descending with ``descending=True``), and keys must be unique (end them with
the item's id).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import orjson

from cloudops.service.context import InvalidInput

__all__ = ["Page", "decode_cursor", "encode_cursor", "paginate"]

T = TypeVar("T")
Key = tuple[Any, ...]


def _tag(v: Any) -> Any:
    if isinstance(v, Decimal):
        return {"d": str(v)}
    if isinstance(v, datetime):
        return {"t": v.isoformat()}
    if isinstance(v, date):
        return {"D": v.isoformat()}
    return v


def _untag(v: Any) -> Any:
    if isinstance(v, dict) and len(v) == 1:
        ((k, x),) = v.items()
        if k == "d":
            return Decimal(x)
        if k == "t":
            return datetime.fromisoformat(x)
        if k == "D":
            return date.fromisoformat(x)
        raise ValueError(f"unknown tag {k!r}")
    return v


def encode_cursor(key: Key) -> str:
    """The opaque cursor of a sort key."""
    return base64.urlsafe_b64encode(orjson.dumps([_tag(v) for v in key])).decode().rstrip("=")


def decode_cursor(cursor: str) -> Key:
    """The sort key of a cursor; InvalidInput (422) if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = orjson.loads(raw)
        if not isinstance(values, list):
            raise ValueError("not a list")
        return tuple(_untag(v) for v in values)
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise InvalidInput(f"invalid cursor {cursor[:40]!r}") from None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def paginate(
    items: Sequence[T], key: Callable[[T], Key], *, cursor: str | None, limit: int, descending: bool = False
) -> Page[T]:
    """The page of ``items`` after ``cursor`` (at most ``limit``), with the cursor of the next page (None: last)."""
    ordered = sorted(items, key=key, reverse=descending)
    if cursor is not None:
        after = decode_cursor(cursor)
        try:
            ordered = [i for i in ordered if (key(i) < after if descending else key(i) > after)]
        except TypeError:
            raise InvalidInput("this cursor belongs to another list") from None
    page = ordered[:limit]
    more = len(ordered) > limit
    return Page(page, encode_cursor(key(page[-1])) if more and page else None)
