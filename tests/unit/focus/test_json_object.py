"""json_object (x_Extensions) gives the same text as the member-list route, whatever is null or blank."""

from __future__ import annotations

import json
import random

import pyarrow as pa

from cloudops.focus.values import json_body, json_object, wrap_json

_VALUES = [None, None, "", "  ", "a", 'q"uote', "back\\slash", "line\nbreak", "tab\there", "x,y", "ünï", "1.5"]


def _columns(seed: int, n: int, k: int) -> list[tuple[str, pa.Array]]:
    rng = random.Random(seed)
    pairs: list[tuple[str, pa.Array]] = []
    for j in range(k):
        style = rng.choice(["sparse", "full", "empty", "number"])
        if style == "empty":
            arr = pa.nulls(n, pa.string())
        elif style == "number":
            arr = pa.array([rng.choice([None, 1.5, 0.0, -2.25]) for _ in range(n)], pa.float64())
        elif style == "full":
            arr = pa.array([rng.choice(_VALUES[4:]) for _ in range(n)], pa.string())
        else:
            arr = pa.array([rng.choice(_VALUES) for _ in range(n)], pa.string())
        pairs.append((f"x_col/{j}", arr))
    return pairs


def test_json_object_equals_member_lists() -> None:
    for seed in range(40):
        n = 1 + seed * 3
        pairs = _columns(seed, n, 1 + seed % 7)
        fast = json_object(pairs, n)
        slow = wrap_json([json_body(pairs, n)], n)
        assert fast.to_pylist() == slow.to_pylist(), seed
        for text in fast.to_pylist():
            assert text is None or isinstance(json.loads(text), dict)


def test_json_object_on_slices_and_no_members() -> None:
    arr = pa.array(["a", None, "b", None, "c"], pa.string()).slice(1)
    other = pa.array([None, "x", None, None, None], pa.string()).slice(1)
    out = json_object([("k", arr), ("o", other)], 4)
    assert out.to_pylist() == ['{"o":"x"}', '{"k":"b"}', None, '{"k":"c"}']
    assert json_object([("k", pa.nulls(3, pa.string()))], 3).to_pylist() == [None, None, None]
    assert json_object([], 2).to_pylist() == [None, None]
