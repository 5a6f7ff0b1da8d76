"""Cursor pagination and the GraphQL cost rule (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

from cloudops.api.graphql.limits import query_cost
from cloudops.api.pagination import decode_cursor, encode_cursor, paginate
from cloudops.service.context import InvalidInput


def test_cursor_round_trips_decimals_and_times() -> None:
    key = (Decimal("10.50"), datetime(2025, 1, 2, 3, tzinfo=UTC), "fp-1", 3)
    assert decode_cursor(encode_cursor(key)) == key


@pytest.mark.parametrize("bad", ["%%%", "bm90IGpzb24", encode_cursor(("x",))[:-2] + "!!", "eyJhIjoxfQ"])
def test_bad_cursors_are_invalid_input(bad: str) -> None:
    with pytest.raises(InvalidInput):
        decode_cursor(bad)


def test_pages_neither_repeat_nor_skip_when_items_are_added() -> None:
    items = [(Decimal(s), f"r{s}") for s in (5, 40, 10, 30, 20)]
    first = paginate(items, lambda i: i, cursor=None, limit=2, descending=True)
    assert [i[1] for i in first.items] == ["r40", "r30"]
    items.append((Decimal(35), "r35"))  # lands before the cursor: not repeated, not shifting the next page
    second = paginate(items, lambda i: i, cursor=first.next_cursor, limit=2, descending=True)
    assert [i[1] for i in second.items] == ["r20", "r10"]
    last = paginate(items, lambda i: i, cursor=second.next_cursor, limit=2, descending=True)
    assert ([i[1] for i in last.items], last.next_cursor) == (["r5"], None)


def _cost(text: str) -> int:
    doc = parse(text)
    frags = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    op = next(d for d in doc.definitions if isinstance(d, OperationDefinitionNode))
    return query_cost(op.selection_set, frags)


def test_query_cost_weights_pages() -> None:
    assert _cost("{ sources { id bucket } }") == 3
    assert _cost("{ files(first: 10) { nodes { fileId } } }") == 1 + 10 * 2
    assert _cost("query($n: Int!) { files(first: $n) { nodes { fileId } } }") == 1 + 1000 * 2
    assert _cost("{ ...F } fragment F on Query { sources { id } }") == 2
    assert _cost("{ __typename sources { id } }") == 2
