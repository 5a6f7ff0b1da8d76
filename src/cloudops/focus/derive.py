"""Derived rows: a conditional extra FOCUS row computed from a source row's scalar columns.

A rules file's ``derive`` entries (:class:`cloudops.focus.rules.Derive`) say when a source
row yields one more FOCUS row and which column rules differ for it; every other column is
computed by the base rules from the same source row. The motivating case is the strict
FOCUS reading of commitments: AWS bills an RI or Savings Plan recurring fee as one line,
whose unused part FOCUS wants as its own Usage row (CommitmentDiscountStatus ``Unused``,
EffectiveCost the unused amount) while the fee row itself carries EffectiveCost 0.

Contract (enforced by the rules model): a derived row's BilledCost is the constant 0, so
billed totals and reconciliation (``source == sum(BilledCost) + rejected``) are unchanged.
The converter treats derived rows like exploded ones: they share the source row's
``x_RowNumber``, and a derived row that cannot be converted rejects its source row whole.

Pure and columnar: conditions and the ``nonzero`` amount are Arrow kernels over the whole
batch; no per-row Python.
"""

from __future__ import annotations

import functools

import pyarrow as pa
import pyarrow.compute as pc

from cloudops.focus.expr import evaluate
from cloudops.focus.rules import Condition, Derive, Expr
from cloudops.focus.values import as_decimal

__all__ = ["derived_mask", "derived_rows"]


def _flag(cond: Condition) -> Expr:
    """An expression that is "1" where ``cond`` holds and null elsewhere (reuses the rules' condition kernels)."""
    return Expr.model_validate(
        {
            "cases": [{"when": cond.model_dump(by_alias=True, exclude_none=True), "then": {"const": "1"}}],
            "else": {"none": True},
        }
    )


def _when(raw: pa.RecordBatch, spec: Derive) -> pa.Array:
    """Boolean per source row: every ``when`` condition holds."""
    masks = [pc.is_valid(evaluate(_flag(c), raw)[0]) for c in spec.when]
    return pc.fill_null(functools.reduce(pc.and_, masks), False)


def _not_zero(table: pa.RecordBatch, amount_expr: Expr) -> pa.Array:
    """Boolean per row: the amount is not exactly 0 (null or unreadable counts as not zero)."""
    value, _bad = evaluate(amount_expr, table)
    amount, _parse_bad = as_decimal(value, decimal_comma=amount_expr.decimal_comma)
    zero = pc.fill_null(pc.equal(amount, pa.scalar(0, pa.int64()).cast(amount.type)), False)
    return pc.invert(zero)


def derived_rows(raw: pa.RecordBatch, spec: Derive) -> tuple[pa.RecordBatch, pa.Array]:
    """The source rows ``spec`` applies to, and their indices in ``raw`` (int64), in source order.

    Applies when every ``when`` condition holds and ``skip_zero`` (if given) is not exactly 0.
    A ``skip_zero`` amount that is null or cannot be read does not skip: the derived row is
    attempted and its own column rules decide (a missing EffectiveCost rejects the source row
    with that reason rather than silently losing the unused amount). The amount is computed
    only for the rows the conditions select (number parsing is the costly part). The converter
    evaluates the base column rules with ``spec.columns`` as overrides over the returned rows,
    exactly as for exploded rows.
    """
    empty = pa.array([], pa.int64())
    if raw.num_rows == 0:
        return raw, empty
    parents = pc.cast(pc.indices_nonzero(_when(raw, spec)), pa.int64())
    if len(parents) == 0:
        return raw.slice(0, 0), empty
    table = raw.take(parents)
    if spec.skip_zero is not None:
        keep = _not_zero(table, spec.skip_zero)
        table, parents = table.filter(keep), parents.filter(keep)
    return table, parents


def derived_mask(raw: pa.RecordBatch, spec: Derive) -> pa.Array:
    """Boolean per source row: whether ``spec`` derives a row from it (see :func:`derived_rows`)."""
    parents = derived_rows(raw, spec)[1]
    return pc.is_in(pa.array(range(raw.num_rows), pa.int64()), value_set=parents)
