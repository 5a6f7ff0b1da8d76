"""Unreadable values: which ones reject their row, and how the others are reported.

A source row is rejected only when a value FOCUS makes mandatory *for that row* cannot be
read: a column that is never null (the four costs among them), a column FOCUS requires on
this kind of row (e.g. ``ContractedUnitPrice`` on a Usage or Purchase row that is not a
correction), or the rules' reconcile cost. Any other unreadable value becomes null and is
counted as a :class:`~cloudops.schemas.events.ColumnWarning` for its FOCUS column; so is
JSON text (``json_maps``, ``json_types``) that only feeds optional columns (:func:`optional_target`).
(Empty and whitespace-only text is never unreadable: it is no value, see
:func:`cloudops.focus.values.blank_to_null`.)

Reasons and warnings name the *source* column and show its value, found by re-reading the
expression's source columns on the bad rows only (nothing here runs on clean batches).
Pure, columnar; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from cloudops.focus.columns import FocusColumn
from cloudops.focus.datasets import dataset_columns
from cloudops.focus.rules import Expr, FormatRules
from cloudops.focus.values import as_decimal, as_integer, as_text, as_timestamp
from cloudops.schemas.events import ColumnWarning

__all__ = [
    "COST_COLUMNS",
    "blank_sensitive_columns",
    "explain",
    "merge_warnings",
    "must_read",
    "optional_target",
    "structure_warning",
    "warnings_for",
]

COST_COLUMNS = frozenset({"BilledCost", "EffectiveCost", "ListCost", "ContractedCost"})
_SAMPLE_CHARS = 60
_USAGE_OR_PURCHASE = {  # FOCUS 1.2: MUST NOT be null when ChargeCategory is Usage or Purchase, not a correction
    "ListUnitPrice",
    "ContractedUnitPrice",
    "PricingQuantity",
    "PricingCurrencyListUnitPrice",
    "PricingCurrencyContractedUnitPrice",
    "PricingCategory",
    "SkuId",
    "SkuPriceId",
}
_ALWAYS = {"PricingCurrencyEffectiveCost"}  # FOCUS 1.2: never null when the column is present


def _text(columns: Mapping[str, pa.Array], name: str, n: int) -> pa.Array:
    arr = columns.get(name)
    return pa.nulls(n, pa.string()) if arr is None else as_text(arr)


def must_read(col: FocusColumn, columns: Mapping[str, pa.Array], n: int) -> pa.Array | bool:
    """Whether ``col`` must be readable, per row (True: every row; False: no row).

    ``columns`` holds the FOCUS columns computed so far (ChargeCategory, ChargeClass,
    CommitmentDiscountId are read when present).
    """
    if not col.nullable or col.name in COST_COLUMNS or col.name in _ALWAYS:
        return True
    if col.name not in _USAGE_OR_PURCHASE and col.name not in ("ConsumedQuantity", "CommitmentDiscountQuantity"):
        return False
    category = _text(columns, "ChargeCategory", n)
    not_correction = pc.invert(pc.fill_null(pc.equal(_text(columns, "ChargeClass", n), "Correction"), False))
    if col.name == "ConsumedQuantity":
        usage = pc.fill_null(pc.equal(category, "Usage"), False)
        return pc.and_(usage, not_correction)
    chargeable = pc.and_(pc.fill_null(pc.is_in(category, pa.array(["Usage", "Purchase"])), False), not_correction)
    if col.name == "CommitmentDiscountQuantity":
        return pc.and_(chargeable, pc.is_valid(_text(columns, "CommitmentDiscountId", n)))
    return chargeable


_TYPED = ("decimal", "datetime", "integer")


def _plain(expr: Expr) -> bool:
    """``from: COL`` with no modifier: the column's value is only parsed (blank text parses as null)."""
    return (
        expr.from_ is not None
        and not (expr.extract or expr.lower or expr.upper or expr.map or expr.lookup or expr.default is not None)
        and expr.add_days is None
    )


def blank_sensitive_columns(rules: FormatRules) -> set[str]:
    """Source columns whose blank values must be made null before the rules run.

    Every column the rules read, except those read only as the plain source of a decimal,
    datetime or integer FOCUS column (or of the reconcile cost): the typed parsers already read
    blank text as null, on their slow path only, so clean batches pay nothing for them.
    Conditions, ``coalesce`` choices, text columns, arithmetic and month operands are kept.
    """
    kinds = {c.name: c.kind for c in dataset_columns(rules.dataset)}
    typed_only: set[str] = set()
    others: set[str] = set()
    blocks = [rules.columns, *(e.columns for e in rules.explode), *(d.columns for d in rules.derive)]
    for block in blocks:
        for name, expr in block.items():
            if kinds.get(name) in _TYPED and _plain(expr):
                typed_only.add(expr.from_)  # type: ignore[arg-type]
            else:
                others |= expr.source_columns()
    cost = rules.reconcile.cost
    if _plain(cost):
        typed_only.add(cost.from_)  # type: ignore[arg-type]
    else:
        others |= cost.source_columns()
    others |= rules.reconcile.currency.source_columns()
    for d in rules.derive:
        others |= {c.column for c in d.when}
        if d.skip_zero is not None:
            others |= d.skip_zero.source_columns()
    if rules.x_provider is not None:
        others |= rules.x_provider.source_columns()
    others |= set(rules.json_maps) | {t.column for t in (rules.tags.maps if rules.tags else [])}
    # Extension and tag-prefix columns: json_body/json_object leave blank values out themselves.
    return {c for c in (typed_only | others) - (typed_only - others) if not c.startswith("item.")}


def optional_target(rules: FormatRules, source: str) -> str | None:
    """The FOCUS column to count an unreadable ``source`` under, or None when it must be read.

    None when the source column feeds a mandatory or cost column, the reconcile cost or
    currency, a row condition, a derived row's condition, ``x_provider`` or an ``explode``
    list (its rows). Else the first nullable FOCUS column that reads it: ``Tags`` for a tag
    map, ``x_Extensions`` when only kept as an extension.
    """
    optional = {c.name for c in dataset_columns(rules.dataset) if c.nullable and c.name not in COST_COLUMNS}

    def reads(expr: Expr) -> bool:  # the column itself, or a member of it (``service`` -> ``service.id``)
        return any(name == source or name.startswith(source + ".") for name in expr.source_columns())

    target: str | None = None
    blocks = [rules.columns, *(e.columns for e in rules.explode), *(d.columns for d in rules.derive)]
    for block in blocks:
        for name, expr in block.items():
            if not reads(expr):
                continue
            if name not in optional or any(c == source or c.startswith(source + ".") for c in _conditions(expr)):
                return None
            target = target or name
    guards = [rules.reconcile.cost, rules.reconcile.currency]
    guards += [e for d in rules.derive for e in ([d.skip_zero] if d.skip_zero is not None else [])]
    if rules.x_provider is not None:
        guards.append(rules.x_provider)
    if any(reads(e) for e in guards) or source in {c.column for d in rules.derive for c in d.when}:
        return None
    if source in {e.list for e in rules.explode}:
        return None
    if rules.tags is not None and source in {t.column for t in rules.tags.maps}:
        return target or "Tags"
    return target or "x_Extensions"


def _conditions(expr: Expr) -> set[str]:
    cols = {c.when.column for c in expr.cases or []}
    for child in expr.children():
        cols |= _conditions(child)
    return cols


def structure_warning(column: str, source: str, reason: str, rows: pa.Array, text: pa.Array) -> ColumnWarning | None:
    """A warning for ``rows`` of a source column whose structure (JSON) could not be read; None if none."""
    count = int(pc.sum(rows).as_py() or 0)
    if count == 0:
        return None
    first = pc.index(rows, True).as_py()
    sample = pc.utf8_slice_codeunits(as_text(text), 0, _SAMPLE_CHARS)[first].as_py()
    return ColumnWarning(column=column, source=source, reason=reason, rows=count, sample=sample)


def _leaves(expr: Expr, *, lenient: bool = False) -> list[tuple[str, Expr, bool]]:
    """Source columns an expression reads for its value, in evaluation order, each with the
    expression that reads it and whether it is read leniently (inside month_start/month_end,
    where ``202401`` is a valid value that is not a date)."""
    out: list[tuple[str, Expr, bool]] = []
    if expr.from_ is not None:
        out.append((expr.from_, expr, lenient))
    if expr.sum_list is not None:
        out.append((expr.sum_list.column, expr, True))
    if expr.map_get is not None:
        out.append((expr.map_get.column, expr, True))
    inner_lenient = lenient or expr.month_start is not None or expr.month_end is not None
    for child in expr.children():
        out.extend(_leaves(child, lenient=inner_lenient))
    return out


def _unreadable(kind: str, leaf: Expr, outer: Expr, arr: pa.Array) -> pa.Array:
    """Where a source column's own value cannot be read as ``kind`` (null is readable)."""
    if kind == "decimal":
        return as_decimal(arr, decimal_comma=leaf.decimal_comma or outer.decimal_comma)[1]
    if kind == "datetime":
        return as_timestamp(arr, leaf.format or outer.format)[1]
    if kind == "integer":
        return as_integer(arr)[1]
    return pc.is_valid(arr)


def _blamed(col: FocusColumn, expr: Expr, table: pa.RecordBatch, mask: pa.Array) -> list[tuple[str, pa.Array]]:
    """For rows in ``mask``: (source column, rows it explains), first culprit per row."""
    left = mask
    out: list[tuple[str, pa.Array]] = []
    seen: set[str] = set()
    for name, leaf, lenient in _leaves(expr):
        idx = table.schema.get_field_index(name)
        if name in seen or idx < 0:
            continue
        seen.add(name)
        arr = table.column(idx)
        if pa.types.is_nested(arr.type) and not lenient:
            continue
        culprit = pc.is_valid(arr) if lenient else _unreadable(col.kind, leaf, expr, arr)
        hit = pc.and_(left, pc.fill_null(culprit, False))
        if pc.any(hit).as_py():
            out.append((name, hit))
            left = pc.and_(left, pc.invert(hit))
            if not pc.any(left).as_py():
                break
    if pc.any(left).as_py():
        out.append(("", left))
    return out


def _shown(table: pa.RecordBatch, name: str) -> pa.Array:
    arr = table.column(table.schema.get_field_index(name))
    if pa.types.is_nested(arr.type):
        return pa.nulls(len(arr), pa.string()).fill_null("(nested value)")
    return pc.utf8_slice_codeunits(pc.fill_null(as_text(arr), ""), 0, _SAMPLE_CHARS)


def _rule(expr: Expr) -> str:
    names = [name for name, _, _ in _leaves(expr)]
    return "rule over " + ", ".join(dict.fromkeys(names)) if names else "rule"


def explain(col: FocusColumn | str, kind: str, expr: Expr, table: pa.RecordBatch, mask: pa.Array) -> pa.Array:
    """Per row in ``mask``, a rejection reason naming the source column and its value (else null).

    E.g. ``BilledCost: not a valid decimal value in line_item_unblended_cost: 'NaN'``.
    """
    n = table.num_rows
    name = col if isinstance(col, str) else col.name
    target = col if isinstance(col, FocusColumn) else FocusColumn(name, kind)  # type: ignore[arg-type]
    out = pa.nulls(n, pa.string())
    for source, hit in _blamed(target, expr, table, mask):
        if source:
            text = pc.binary_join_element_wise(
                f"{name}: not a valid {kind} value in {source}: '", _shown(table, source), "'", ""
            )
        else:
            text = pa.nulls(n, pa.string()).fill_null(f"{name}: not a valid {kind} value ({_rule(expr)})")
        out = pc.if_else(hit, text, out)
    return out


def warnings_for(col: FocusColumn, expr: Expr, table: pa.RecordBatch, mask: pa.Array) -> list[ColumnWarning]:
    """Warnings for the rows in ``mask`` whose ``col`` value was unreadable and left null."""
    found: list[ColumnWarning] = []
    for source, hit in _blamed(col, expr, table, mask):
        rows = int(pc.sum(hit).as_py() or 0)
        if rows == 0:
            continue
        sample = None
        if source:
            first = pc.index(hit, True).as_py()
            sample = _shown(table, source)[first].as_py()
        found.append(
            ColumnWarning(
                column=col.name,
                source=source or _rule(expr),
                reason=f"not a valid {col.kind} value",
                rows=rows,
                sample=sample,
            )
        )
    return found


def merge_warnings(*groups: Iterable[ColumnWarning]) -> list[ColumnWarning]:
    """One warning per (column, source, reason): rows added, the first sample kept; sorted by column."""
    merged: dict[tuple[str, str, str], ColumnWarning] = {}
    for group in groups:
        for w in group:
            key = (w.column, w.source, w.reason)
            have = merged.get(key)
            merged[key] = (
                w
                if have is None
                else have.model_copy(update={"rows": have.rows + w.rows, "sample": have.sample or w.sample})
            )
    return [merged[k] for k in sorted(merged)]
