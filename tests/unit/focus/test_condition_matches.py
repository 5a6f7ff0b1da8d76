"""Rules conditions ``{column: C, matches: REGEX}``: the column's text contains a match; null never matches."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from pydantic import ValidationError

from cloudops.focus.expr import evaluate
from cloudops.focus.rules import Condition, Expr


def _cases(cond: dict[str, Any]) -> Expr:
    return Expr.model_validate({"cases": [{"when": cond, "then": {"const": "yes"}}], "else": {"const": "no"}})


def test_matches_searches_the_text_and_null_never_matches() -> None:
    table = pa.RecordBatch.from_pydict({"cost": pa.array(["-1.5", " -2E-3", "3", None, "0-1"], pa.string())})
    values, bad = evaluate(_cases({"column": "cost", "matches": r"^\s*-"}), table)
    assert values.to_pylist() == ["yes", "yes", "no", "no", "no"]
    assert bad is None


def test_matches_works_on_typed_columns() -> None:
    table = pa.RecordBatch.from_pydict({"n": pa.array([-1, 2, None], pa.int64())})
    values, _ = evaluate(_cases({"column": "n", "matches": "^-"}), table)
    assert values.to_pylist() == ["yes", "no", "no"]


def test_matches_on_a_missing_column_is_false() -> None:
    table = pa.RecordBatch.from_pydict({"other": pa.array(["-1"], pa.string())})
    values, _ = evaluate(_cases({"column": "cost", "matches": "-"}), table)
    assert values.to_pylist() == ["no"]


def test_matches_is_exclusive_with_the_other_tests() -> None:
    with pytest.raises(ValidationError, match="exactly one of in, not_in, is_null, matches"):
        Condition.model_validate({"column": "a", "in": ["x"], "matches": "x"})


def test_matches_pattern_must_compile() -> None:
    with pytest.raises(ValidationError, match="is not a regular expression"):
        Condition.model_validate({"column": "a", "matches": "("})
