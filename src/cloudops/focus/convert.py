"""Pure, columnar conversion of one batch of source rows into FOCUS rows.

Every step is an Arrow compute kernel over whole columns; Python touches single rows
only for rows being rejected (to build their reason records). No I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from cloudops.focus.columns import DECIMAL, EXTENSION_COLUMNS, FOCUS_COLUMNS, TIMESTAMP, FocusColumn
from cloudops.focus.rules import Condition, Expr, FormatRules, load_lookup
from cloudops.schemas.events import RejectedRow

__all__ = [
    "ConversionResult",
    "convert_batch",
    "parse_decimal",
    "parse_timestamp",
    "sum_by_currency",
]

_WIDE = pa.decimal128(38, 18)
_WIDE_LIMIT = 1e20  # Decimal(38, 18) holds magnitudes below 10**20
_TEN_PLACES = Decimal("1e-10")
_NUMBER_RE = r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$"
_ISO_RE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"


@dataclass(slots=True)
class ConversionResult:
    """What one source batch became.

    ``batch`` holds the converted rows (FOCUS + extension columns, canonical order);
    ``rejected`` the rows that could not be converted, with reasons;
    ``source_totals`` sums the rules' reconcile cost column over *all* rows whose cost
    parsed, per currency, and ``rejected_totals`` over the rejected ones among them,
    so that ``source == sum(batch.BilledCost) + rejected`` exactly, per currency.
    """

    batch: pa.RecordBatch
    rejected: list[RejectedRow]
    source_totals: dict[str, Decimal] = field(default_factory=dict)
    rejected_totals: dict[str, Decimal] = field(default_factory=dict)

    @property
    def rows_in(self) -> int:
        return int(self.batch.num_rows) + len(self.rejected)


def _nulls(n: int) -> pa.Array:
    return pa.nulls(n, pa.string())


def _const(value: str | None, n: int) -> pa.Array:
    return _nulls(n) if value is None else _nulls(n).fill_null(value)


def _col(table: pa.RecordBatch, name: str, n: int) -> pa.Array:
    idx = table.schema.get_field_index(name)
    if idx < 0:
        return _nulls(n)
    arr = table.column(idx)
    return arr if arr.type == pa.string() else pc.cast(arr, pa.string())


def _mapped(arr: pa.Array, table: Mapping[str, str], default: str | None) -> pa.Array:
    keys = pa.array(list(table.keys()), pa.string())
    values = pa.array(list(table.values()), pa.string())
    found = pc.take(values, pc.index_in(arr, value_set=keys))
    # Unmapped values are kept as they are, or replaced by the default when one is given.
    return pc.coalesce(found, arr if default is None else pa.scalar(default))


def _condition(cond: Condition, table: pa.RecordBatch, n: int) -> pa.Array:
    arr = _col(table, cond.column, n)
    if cond.is_null is not None:
        mask = pc.is_null(arr)
        return mask if cond.is_null else pc.invert(mask)
    values = pa.array(cond.in_ if cond.in_ is not None else cond.not_in, pa.string())
    mask = pc.fill_null(pc.is_in(arr, value_set=values), False)
    return mask if cond.in_ is not None else pc.invert(mask)


def evaluate(expr: Expr, table: pa.RecordBatch) -> pa.Array:
    """Evaluate a rules expression over a batch of source rows; returns a string array."""
    n = table.num_rows
    if expr.from_ is not None:
        out = _col(table, expr.from_, n)
    elif expr.const is not None:
        out = _const(expr.const, n)
    elif expr.none:
        out = _nulls(n)
    elif expr.coalesce is not None:
        out = pc.coalesce(*[_col(table, c, n) for c in expr.coalesce])
    else:
        assert expr.cases is not None
        assert expr.else_ is not None
        out = evaluate(expr.else_, table)
        for case in reversed(expr.cases):
            out = pc.if_else(_condition(case.when, table, n), evaluate(case.then, table), out)
    if expr.map is not None:
        out = _mapped(out, expr.map, expr.default)
    elif expr.lookup is not None:
        out = _mapped(out, load_lookup(expr.lookup), expr.default)
    elif expr.default is not None:
        out = pc.fill_null(out, expr.default)
    return out


def parse_decimal(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Parse decimal text (plain or exponent notation) to Decimal(38, 10), half-even rounded.

    Returns ``(values, bad)``: ``bad`` is True where a non-null input is not a number or
    does not fit; those positions are null in ``values``.
    """
    ok = pc.fill_null(pc.match_substring_regex(arr, _NUMBER_RE), True)
    bad = pc.invert(ok)
    clean = pc.if_else(ok, pc.utf8_trim_whitespace(arr), pa.scalar(None, pa.string()))
    # Arrow's string -> decimal cast wraps around silently for some large exponents
    # ("1e30" casts to a wrong 20-digit value), so screen out what the wide type cannot hold.
    too_big = pc.fill_null(pc.greater_equal(pc.abs(pc.cast(clean, pa.float64())), _WIDE_LIMIT), False)
    if pc.any(too_big).as_py():
        bad = pc.or_(bad, too_big)
        clean = pc.if_else(too_big, pa.scalar(None, pa.string()), clean)
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


def parse_timestamp(arr: pa.Array, fmt: str | None = None) -> tuple[pa.Array, pa.Array]:
    """Parse timestamps to UTC ``timestamp[us]``; ISO 8601 by default, else strptime ``fmt``.

    Values without a zone are taken as UTC. Returns ``(values, bad)`` like parse_decimal.
    """
    if fmt is not None:
        values = pc.strptime(arr, format=fmt, unit="us", error_is_null=True)
        if values.type.tz is None:
            values = pc.assume_timezone(values, "UTC")
        values = pc.cast(values, TIMESTAMP)
        bad = pc.and_(pc.is_valid(arr), pc.is_null(values))
        return values, bad
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


def _json_escape(arr: pa.Array) -> pa.Array:
    s = pc.replace_substring(arr, "\\", "\\\\")
    s = pc.replace_substring(s, '"', '\\"')
    s = pc.replace_substring(s, "\n", "\\n")
    s = pc.replace_substring(s, "\r", "\\r")
    s = pc.replace_substring(s, "\t", "\\t")
    return pc.replace_substring_regex(s, r"[\x00-\x1f]", " ")


def _json_object(pairs: list[tuple[str, pa.Array]], n: int) -> pa.Array:
    """Build a JSON object per row from (key, string column) pairs; null where every value is null."""
    if not pairs:
        return _nulls(n)
    pieces = []
    for key, arr in pairs:
        prefix = json.dumps(key) + ':"'
        # Each member carries its own trailing comma (null when the value is null).
        pieces.append(pc.binary_join_element_wise(prefix, _json_escape(arr), '",', ""))
    # Not null_handling="skip": Arrow drops rows whose values are all null in that mode,
    # which returns a shorter array (any untagged row). Join with nulls as "" instead.
    body = pc.binary_join_element_wise(*pieces, "", null_handling="replace", null_replacement="")
    body = pc.utf8_rtrim(body, characters=",")
    obj = pc.binary_join_element_wise("{", body, "}", "")
    return pc.if_else(pc.equal(body, ""), pa.scalar(None, pa.string()), obj)


def _tags(rules: FormatRules, table: pa.RecordBatch) -> pa.Array:
    n = table.num_rows
    pairs: list[tuple[str, pa.Array]] = []
    assert rules.tags is not None
    for name in table.schema.names:
        for prefix, key_prefix in rules.tags.prefixes.items():
            if name.startswith(prefix) and len(name) > len(prefix):
                pairs.append((key_prefix + name[len(prefix) :], _col(table, name, n)))
                break
    return _json_object(pairs, n)


def sum_by_currency(values: pa.Array, currency: pa.Array) -> dict[str, Decimal]:
    """Exact per-currency sums of a decimal column (null currency counted under "")."""
    if len(values) == 0:
        return {}
    t = pa.table({"v": values, "c": pc.fill_null(currency, "")})
    grouped = t.group_by("c").aggregate([("v", "sum")])
    out: dict[str, Decimal] = {}
    for cur, total in zip(grouped["c"].to_pylist(), grouped["v_sum"].to_pylist(), strict=True):
        if total is not None:
            out[cur] = Decimal(total)
    return out


def _typed(col: FocusColumn, raw: pa.Array, fmt: str | None) -> tuple[pa.Array, pa.Array | None]:
    if col.kind == "decimal":
        return parse_decimal(raw)
    if col.kind == "datetime":
        return parse_timestamp(raw, fmt)
    return raw, None


def convert_batch(
    raw: pa.RecordBatch,
    rules: FormatRules,
    *,
    file_id: str,
    batch_id: str,
    row_offset: int,
) -> ConversionResult:
    """Convert one batch of source rows (all string columns) to FOCUS.

    Pure and deterministic: the same input always gives the same output. Rows that
    cannot be converted (unparseable number or date, missing mandatory value) are
    returned in ``rejected`` with the first reason found; the rest convert.
    """
    n = raw.num_rows
    columns: dict[str, pa.Array] = {}
    reasons: list[pa.Array] = []
    for col in FOCUS_COLUMNS:
        expr = rules.columns.get(col.name)
        if col.name == "Tags" and rules.tags is not None:
            columns[col.name] = _tags(rules, raw)
            continue
        if expr is None:
            columns[col.name] = pa.nulls(n, col.arrow_type)
            continue
        value, bad = _typed(col, evaluate(expr, raw), expr.format)
        if bad is not None:
            reasons.append(
                pc.if_else(
                    bad, pa.scalar(f"{col.name}: not a valid {col.kind} value", pa.string()), _nulls(n)
                )
            )
        if not col.nullable:
            reasons.append(
                pc.if_else(
                    pc.is_null(value),
                    pa.scalar(f"{col.name}: mandatory value missing ({_describe(expr)})", pa.string()),
                    _nulls(n),
                )
            )
        columns[col.name] = value

    for ext in EXTENSION_COLUMNS:
        if ext.name == "x_Provider":
            columns[ext.name] = _const(rules.provider, n)
        elif ext.name == "x_SourceFormat":
            columns[ext.name] = _const(rules.id, n)
        elif ext.name == "x_FileId":
            columns[ext.name] = _const(file_id, n)
        elif ext.name == "x_BatchId":
            columns[ext.name] = _const(batch_id, n)
        elif ext.name == "x_RowNumber":
            columns[ext.name] = pa.array(range(row_offset, row_offset + n), pa.int64())
        elif ext.name == "x_Extensions":
            pairs = [(k, _col(raw, src, n)) for k, src in rules.extensions.items()]
            columns[ext.name] = _json_object(pairs, n)

    reason = pc.coalesce(*reasons) if reasons else _nulls(n)
    bad_rows = pc.is_valid(reason)

    # Reconciliation: the source cost column, parsed the same way BilledCost is.
    src_cost, src_bad = parse_decimal(_col(raw, rules.reconcile.cost, n))
    src_cur = _col(raw, rules.reconcile.currency, n)
    readable = pc.invert(src_bad)
    source_totals = sum_by_currency(src_cost.filter(readable), src_cur.filter(readable))
    rejected_mask = pc.and_(bad_rows, readable)
    rejected_totals = sum_by_currency(src_cost.filter(rejected_mask), src_cur.filter(rejected_mask))

    schema = pa.schema(
        [pa.field(c.name, c.arrow_type, nullable=True) for c in FOCUS_COLUMNS + EXTENSION_COLUMNS]
    )
    full = pa.RecordBatch.from_arrays([columns[f.name] for f in schema], schema=schema)
    good = pc.invert(bad_rows)
    batch = full.filter(good) if pc.any(bad_rows).as_py() else full

    rejected: list[RejectedRow] = []
    if pc.any(bad_rows).as_py():
        idx = pc.indices_nonzero(bad_rows)
        bad_raw = raw.take(idx).to_pylist()
        bad_reason = reason.take(idx).to_pylist()
        for i, row, why in zip(idx.to_pylist(), bad_raw, bad_reason, strict=True):
            shown = {k: v for k, v in row.items() if v is not None}
            rejected.append(
                RejectedRow(row_number=row_offset + i, reason=str(why), raw=json.dumps(shown, default=str))
            )
    return ConversionResult(
        batch=batch, rejected=rejected, source_totals=source_totals, rejected_totals=rejected_totals
    )


def _describe(expr: Expr) -> str:
    if expr.from_:
        return f"from {expr.from_}"
    if expr.coalesce:
        return "from " + " / ".join(expr.coalesce)
    return "rule gave no value"
