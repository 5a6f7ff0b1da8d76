"""Evaluation of rules expressions over a batch of source rows, column at a time.

``evaluate`` returns ``(values, bad)``: the values (text, decimal or timestamp arrays
depending on the expression) and a mask of rows where a number or date inside the
expression could not be parsed (``None`` when nothing can go wrong).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from decimal import Decimal, localcontext

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cloudops.focus.columns import DECIMAL, TIMESTAMP
from cloudops.focus.rules import Condition, Expr, load_lookup
from cloudops.focus.values import as_decimal, as_text, as_timestamp, kv_json_body, list_parents, wrap_json

__all__ = ["Value", "column", "decimal_of", "evaluate", "parse_memo", "timestamp_of"]

Value = tuple[pa.Array, pa.Array | None]
_NULL_STR = pa.scalar(None, pa.string())


def column(table: pa.RecordBatch, name: str) -> pa.Array:
    """A source column as it is typed in the batch; all-null text if the file lacks it."""
    idx = table.schema.get_field_index(name)
    if idx < 0:
        return pa.nulls(table.num_rows, pa.string())
    return table.column(idx)


# Per-batch parse memo (see ``parse_memo``): array identity (type, offset, length, buffer addresses)
# and parse options -> (the array, kept alive so its buffers cannot be reused, and the parse result).
_MemoKey = tuple[object, ...]
_MEMO: ContextVar[dict[_MemoKey, tuple[pa.Array, tuple[pa.Array, pa.Array]]] | None] = ContextVar(
    "cloudops_focus_parse_memo", default=None
)


@contextmanager
def parse_memo() -> Iterator[None]:
    """Within the block, each source array is parsed once per set of options (per thread/context).

    Several FOCUS columns and the reconcile cost usually read the same money column (AWS
    ``lineItem/UnblendedCost`` feeds BilledCost, ContractedCost and the reconcile cost): with the
    memo, ``decimal_of``/``timestamp_of`` of the same array (same buffers, offset and length) with
    the same options return the first result. Arrow arrays are immutable, so sharing is safe; the
    memo keeps the arrays alive and is dropped when the block ends (one batch).
    """
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def _memo_key(arr: pa.Array, *options: object) -> _MemoKey | None:
    if not isinstance(arr, pa.Array):
        return None
    addresses = tuple(0 if b is None else b.address for b in arr.buffers())
    return (str(arr.type), arr.offset, len(arr), addresses, *options)


def _memoised(
    arr: pa.Array, options: tuple[object, ...], parse: functools.partial[tuple[pa.Array, pa.Array]]
) -> tuple[pa.Array, pa.Array]:
    memo = _MEMO.get()
    key = None if memo is None else _memo_key(arr, *options)
    if memo is None or key is None:
        return parse()
    hit = memo.get(key)
    if hit is None:
        hit = memo[key] = (arr, parse())
    return hit[1]


def decimal_of(arr: pa.Array, *, decimal_comma: bool = False) -> tuple[pa.Array, pa.Array]:
    """``as_decimal`` of ``arr``, memoised inside ``parse_memo`` (same result, parsed once)."""
    return _memoised(arr, ("decimal", decimal_comma), functools.partial(as_decimal, arr, decimal_comma=decimal_comma))


def timestamp_of(arr: pa.Array, fmt: str | list[str] | None = None) -> tuple[pa.Array, pa.Array]:
    """``as_timestamp`` of ``arr``, memoised inside ``parse_memo`` (same result, parsed once)."""
    options = ("timestamp", tuple(fmt) if isinstance(fmt, list) else fmt)
    return _memoised(arr, options, functools.partial(as_timestamp, arr, fmt))


def _or(a: pa.Array | None, b: pa.Array | None) -> pa.Array | None:
    if a is None:
        return b
    if b is None:
        return a
    return pc.or_(a, b)


_ARRAYS: dict[int, tuple[object, pa.Array, pa.Array]] = {}


def _text_arrays(source: Mapping[str, str] | list[str]) -> tuple[pa.Array, pa.Array]:
    """A rules mapping's keys and values (or a value list, twice) as Arrow text, built once per object.

    Rules and lookup tables live as long as the process, so the cache keeps each source object
    alive with its arrays (an id is never reused while cached).
    """
    hit = _ARRAYS.get(id(source))
    if hit is None or hit[0] is not source:
        if len(_ARRAYS) > 1024:
            _ARRAYS.clear()
        if isinstance(source, list):
            keys = values = pa.array(source, pa.string())
        else:
            keys, values = pa.array(list(source.keys()), pa.string()), pa.array(list(source.values()), pa.string())
        hit = _ARRAYS[id(source)] = (source, keys, values)
    return hit[1], hit[2]


_DISTINCT_FROM = 4096  # rows: below this, a kernel over the rows costs less than finding distinct values


def per_distinct(text: pa.Array, kernel: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """``kernel(text)`` for an element-wise ``kernel``, computed once per distinct value when values repeat.

    Billing columns repeat a few values over millions of rows (product codes, regions, units):
    a regular expression or case mapping over the distinct values and a ``take`` back costs a
    hash per row instead of a regex per row. Where most values are distinct, the kernel runs
    over the rows as it is (the hash pass is then the only extra cost).
    """
    if len(text) < _DISTINCT_FROM or not pa.types.is_string(text.type):
        return kernel(text)
    encoded = pc.dictionary_encode(text)  # nulls stay null (a null index)
    if len(encoded.dictionary) * 4 > len(text):
        return kernel(text)
    return pc.take(kernel(encoded.dictionary), encoded.indices)


def _mapped(arr: pa.Array, table: Mapping[str, str], default: str | None, *, drop: bool = False) -> pa.Array:
    keys, values = _text_arrays(table)
    found = pc.take(values, pc.index_in(arr, value_set=keys))
    # Unmapped values are kept as they are (or dropped to null), or replaced by the default when one is given.
    if default is not None:
        return pc.coalesce(found, pa.scalar(default))
    return found if drop else pc.coalesce(found, arr)


def _condition(cond: Condition, table: pa.RecordBatch) -> pa.Array:
    arr = column(table, cond.column)
    if cond.is_null is not None:
        mask = pc.is_null(arr)
        return mask if cond.is_null else pc.invert(mask)
    if cond.matches is not None:
        pattern = cond.matches
        return pc.fill_null(per_distinct(as_text(arr), lambda t: pc.match_substring_regex(t, pattern)), False)
    if cond.same_as is not None:  # both present and equal as text (null never matches)
        return pc.fill_null(pc.equal(as_text(arr), as_text(column(table, cond.same_as))), False)
    values = _text_arrays(cond.in_ if cond.in_ is not None else cond.not_in or [])[0]
    mask = pc.fill_null(pc.is_in(as_text(arr), value_set=values), False)
    return mask if cond.in_ is not None else pc.invert(mask)


def _unify(arrays: list[pa.Array]) -> list[pa.Array]:
    """Bring branch results to one type (decimal or timestamp if all are, else text)."""
    types = {a.type for a in arrays if not pa.types.is_null(a.type)}
    if len(types) <= 1:
        target = next(iter(types), pa.string())
        return [a if a.type == target else pc.cast(a, target) for a in arrays]
    if all(pa.types.is_decimal(t) for t in types):
        return [pc.cast(a, DECIMAL) if not pa.types.is_null(a.type) else pa.nulls(len(a), DECIMAL) for a in arrays]
    return [as_text(a) for a in arrays]


def _numeric(expr: Expr, table: pa.RecordBatch) -> Value:
    values, bad = evaluate(expr, table)
    num, num_bad = decimal_of(values, decimal_comma=expr.decimal_comma)
    return num, _or(bad, num_bad if pc.any(num_bad).as_py() else None)


_WIDE = pa.decimal256(50, 10)  # sums of Decimal(38, 10) values cannot overflow it
_LIMIT = Decimal(10) ** 28  # Decimal(38, 10) holds magnitudes below 10**28


def _fit(values: pa.Array) -> Value:
    """A wide decimal result rounded half-even to 10 places as Decimal(38, 10); too large -> bad (null)."""
    rounded = pc.round(values, 10, round_mode="half_to_even")
    too_big = pc.fill_null(pc.greater_equal(pc.abs(rounded), pa.scalar(_LIMIT, rounded.type)), False)
    if not pc.any(too_big).as_py():
        return pc.cast(rounded, DECIMAL), None
    return pc.cast(pc.if_else(too_big, pa.scalar(None, rounded.type), rounded), DECIMAL), too_big


def _multiply(a: pa.Array, b: pa.Array) -> Value:
    """Exact product of two Decimal(38, 10) arrays, rounded half-even to 10 places."""
    try:
        # decimal256(37) x decimal256(38) -> decimal256(76, 20): exact, and within Arrow's limit.
        product = pc.multiply(pc.cast(a, pa.decimal256(37, 10)), pc.cast(b, pa.decimal256(38, 10)))
    except pa.ArrowInvalid:
        # Rare: some |a| >= 10**27. Multiply those batches exactly in Python.
        with localcontext() as ctx:
            ctx.prec = 100
            items = [
                None if x is None or y is None else x * y for x, y in zip(a.to_pylist(), b.to_pylist(), strict=True)
            ]
        product = pa.array(items, pa.decimal256(76, 20))
    return _fit(product)


def _month(expr: Expr, table: pa.RecordBatch, *, next_month: bool) -> Value:
    values, bad = evaluate(expr, table)
    fmt = tuple(expr.format) if isinstance(expr.format, list) else expr.format
    compute = functools.partial(_month_values, values, expr.format, next_month=next_month)
    # Memoised per batch: several columns (BillingPeriodStart, ChargePeriodStart, ...) often take
    # the month of the same source column.
    stamps, month_bad = compute() if bad is not None else _memoised(values, ("month", fmt, next_month), compute)
    return stamps, _or(bad, month_bad)


def _month_values(values: pa.Array, fmt: str | list[str] | None, *, next_month: bool) -> tuple[pa.Array, pa.Array]:
    """The first instant (UTC) of each value's month, or of the next month; ``bad`` where no month can be read.

    Dates and timestamps use their UTC year and month directly; text must start ``YYYY-MM`` or
    ``YYYYMM`` (months 01-12 only; anything else is bad, never a crash or a wrong month). The
    result is built with integer month arithmetic (no text formatting or parsing).
    """
    parse_bad = None
    if fmt is not None and not (pa.types.is_timestamp(values.type) or pa.types.is_date(values.type)):
        # The inner expression says how its dates are written (e.g. US MM/DD/YYYY): parse them first.
        values, parse_bad = timestamp_of(values, fmt)
        parse_bad = parse_bad if pc.any(parse_bad).as_py() else None
    text = None
    if pa.types.is_timestamp(values.type) or pa.types.is_date(values.type):
        naive = pc.cast(values, pa.timestamp("us"), safe=False)  # UTC wall time
        year, month = pc.year(naive), pc.month(naive)
        ok = pa.nulls(len(values), pa.bool_()).fill_null(True)
        if not _plain_years(year):  # (years that do not print as 4 digits: as before, through text)
            text = pc.strftime(naive, format="%Y-%m")
    else:
        text = as_text(values)
    if text is not None:
        parts = pc.extract_regex(text, r"^\s*(?P<y>\d{4})-?(?P<m>0[1-9]|1[0-2])")
        ok = pc.or_(pc.is_valid(parts), pc.is_null(text))
        year = pc.cast(pc.struct_field(parts, "y"), pa.int64())
        month = pc.cast(pc.struct_field(parts, "m"), pa.int64())
    bad = pc.invert(ok) if parse_bad is None else pc.or_(pc.invert(ok), parse_bad)
    if not _plain_years(year):
        return _month_text(year, month, next_month=next_month), bad
    months = pc.add(pc.multiply(pc.subtract(year, 1970), 12), pc.subtract(month, 1 - int(next_month)))
    counts = pc.fill_null(months, 0).to_numpy(zero_copy_only=False).astype("datetime64[M]")
    micros = counts.astype("datetime64[us]").astype(np.int64)
    mask = pc.is_null(months).to_numpy(zero_copy_only=False) if months.null_count else None
    return pa.array(micros, pa.int64(), mask=mask).cast(TIMESTAMP), bad


def _plain_years(year: pa.Array) -> bool:
    """Every year is 1000-9998 (four digits, and so is the next month's)."""
    first, last = (v.as_py() for v in pc.min_max(year).values())
    return first is None or (first >= 1000 and last <= 9998)


def _month_text(year: pa.Array, month: pa.Array, *, next_month: bool) -> pa.Array:
    """``_month_values``'s result through ISO text (years outside 1000-9998: as it always was)."""
    if next_month:
        wrap = pc.equal(month, 12)
        year = pc.if_else(wrap, pc.add(year, 1), year)
        month = pc.if_else(wrap, pa.scalar(1, pa.int64()), pc.add(month, 1))
    iso = pc.binary_join_element_wise(
        pc.cast(year, pa.string()), pc.utf8_lpad(pc.cast(month, pa.string()), 2, "0"), "-"
    )
    iso = pc.binary_join_element_wise(iso, "-01T00:00:00Z", "")
    return pc.cast(iso, TIMESTAMP)


def _absent(arr: pa.Array) -> bool:
    """A column with no value at all (missing from the file, or all null)."""
    return bool(pa.types.is_null(arr.type)) or arr.null_count == len(arr)


def _sum_list(table: pa.RecordBatch, name: str, field: str) -> Value:
    arr = column(table, name)
    n = table.num_rows
    if _absent(arr) or n == 0:
        return pa.array([0] * n, pa.int64()).cast(DECIMAL), None
    elems = pc.list_flatten(arr)
    parents = list_parents(arr)
    raw = pc.struct_field(elems, field) if pa.types.is_struct(elems.type) else elems
    values, bad = as_decimal(raw)
    sums = pa.table({"p": parents, "v": pc.fill_null(values, 0)}).group_by("p").aggregate([("v", "sum")])
    idx = pc.index_in(pa.array(range(n), pa.int64()), value_set=pc.cast(sums["p"], pa.int64()))
    per_row = pc.fill_null(pc.cast(pc.take(sums["v_sum"], idx), DECIMAL), pa.scalar(0, pa.int64()).cast(DECIMAL))
    row_bad = None
    if pc.any(bad).as_py():
        bad_parents = pc.filter(parents, bad)
        row_bad = pc.is_in(pa.array(range(n), pa.int64()), value_set=pc.cast(bad_parents, pa.int64()))
    return per_row, row_bad


def _source(expr: Expr, table: pa.RecordBatch) -> Value:
    n = table.num_rows
    if expr.from_ is not None:
        return column(table, expr.from_), None
    if expr.const is not None:
        return pa.nulls(n, pa.string()).fill_null(expr.const), None
    if expr.none:
        return pa.nulls(n, pa.string()), None
    if expr.coalesce is not None:
        parts = [evaluate(e, table) for e in expr.coalesce]
        bad = None
        for _, b in parts:
            bad = _or(bad, b)
        return pc.coalesce(*_unify([p for p, _ in parts])), bad
    if expr.cases is not None:
        assert expr.else_ is not None
        else_value, else_bad = evaluate(expr.else_, table)
        branches = [(_condition(c.when, table), *evaluate(c.then, table)) for c in expr.cases]
        arrays = _unify([else_value, *[b[1] for b in branches]])
        out = arrays[0]
        any_bad = else_bad is not None or any(b[2] is not None for b in branches)
        false = pa.nulls(n, pa.bool_()).fill_null(False)
        bad = (else_bad if else_bad is not None else false) if any_bad else None
        for (cond, _, b_bad), arr in zip(reversed(branches), reversed(arrays[1:]), strict=True):
            out = pc.if_else(cond, arr, out)
            if bad is not None:
                bad = pc.if_else(cond, b_bad if b_bad is not None else false, bad)
        return out, bad
    if expr.add is not None or expr.sub is not None:
        operands = [_numeric(e, table) for e in (expr.add or expr.sub or [])]
        zero = pa.scalar(0, pa.int64()).cast(_WIDE)
        total = pc.fill_null(pc.cast(operands[0][0], _WIDE), zero)
        bad = operands[0][1]
        for value, b in operands[1:]:
            op = pc.add if expr.add is not None else pc.subtract
            # Arrow widens decimal results by one digit per operation: compute wide, narrow at the end.
            total = pc.cast(op(total, pc.fill_null(pc.cast(value, _WIDE), zero)), _WIDE)
            bad = _or(bad, b)
        result, overflow = _fit(total)
        # A row whose operands are all null stays null (nothing to add).
        all_null = functools.reduce(pc.and_, [pc.is_null(v) for v, _ in operands])
        return pc.if_else(all_null, pa.scalar(None, DECIMAL), result), _or(bad, overflow)
    if expr.mul is not None:
        (a, a_bad), (b, b_bad) = (_numeric(e, table) for e in expr.mul)
        product, overflow = _multiply(a, b)
        return product, _or(_or(a_bad, b_bad), overflow)
    if expr.neg is not None:
        value, bad = _numeric(expr.neg, table)
        return pc.negate(value), bad
    if expr.concat is not None:
        parts = [evaluate(e, table) for e in expr.concat]
        bad = None
        for _, b in parts:
            bad = _or(bad, b)
        # Join part by part, skipping null (and empty) parts, so no separator is ever doubled or left
        # at an edge, and text inside a value is never touched.
        joined = pa.nulls(n, pa.string())
        for p, _ in parts:
            text = as_text(p)
            text = pc.if_else(pc.equal(text, ""), _NULL_STR, text)
            both = pc.binary_join_element_wise(joined, text, expr.sep)
            joined = pc.coalesce(both, joined, text)
        return joined, bad
    if expr.json_of is not None:
        body = kv_json_body(column(table, expr.json_of))
        return wrap_json([body], n), None
    if expr.map_get is not None:
        arr = column(table, expr.map_get.column)
        if _absent(arr):
            return pa.nulls(n, pa.string()), None
        return as_text(pc.map_lookup(arr, query_key=expr.map_get.key, occurrence="first")), None
    if expr.sum_list is not None:
        return _sum_list(table, expr.sum_list.column, expr.sum_list.field)
    if expr.month_start is not None:
        return _month(expr.month_start, table, next_month=False)
    assert expr.month_end is not None
    return _month(expr.month_end, table, next_month=True)


def evaluate(expr: Expr, table: pa.RecordBatch) -> Value:
    """Evaluate a rules expression over a batch of source rows."""
    out, bad = _source(expr, table)
    if expr.extract is not None:
        # struct_field, not .field(): rows that do not match (or are null) must stay null, not "".
        pattern = _named(expr.extract)
        out = per_distinct(as_text(out), lambda t: pc.struct_field(pc.extract_regex(t, pattern), [0]))
    if expr.lower:
        out = per_distinct(as_text(out), pc.utf8_lower)
    if expr.upper:
        out = per_distinct(as_text(out), pc.utf8_upper)
    if expr.map is not None:
        out = _mapped(as_text(out), expr.map, expr.default, drop=expr.drop_unmapped)
    elif expr.lookup is not None:
        out = _mapped(as_text(out), load_lookup(expr.lookup), expr.default, drop=expr.drop_unmapped)
    elif expr.default is not None:
        out = pc.fill_null(out if pa.types.is_string(out.type) else as_text(out), expr.default)
    if expr.add_days is not None:
        stamps, parse_bad = timestamp_of(out, expr.format)
        out = pc.add(stamps, pa.scalar(timedelta(days=expr.add_days), pa.duration("us")))
        bad = _or(bad, parse_bad if pc.any(parse_bad).as_py() else None)
    return out, bad


def _named(pattern: str) -> str:
    """Arrow's extract_regex needs every group named: name each unnamed capturing group.

    Group order is kept, so the first field is still the pattern's first group. Parentheses
    inside character classes (``[(]``) and escaped ones are not groups.
    """
    out: list[str] = []
    i, k, in_class = 0, 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            # A "]" right after "[" or "[^" is a literal, not the end of the class.
            j = i + 1 + pattern.startswith("^", i + 1)
            j += pattern.startswith("]", j)
            out.append(pattern[i:j])
            i = j
            continue
        elif c == "(" and not pattern.startswith("(?", i):
            k += 1
            out.append(f"(?P<_g{k}>")
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)
