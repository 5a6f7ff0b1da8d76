"""Pure, columnar conversion of one batch of source rows into FOCUS rows.

Every step is an Arrow compute kernel over whole columns; Python touches single rows
only for rows being rejected (to build their reason records). No I/O.

Reconciliation is exact by construction: the rules' reconcile cost is summed per
currency over every source row (``source_totals``); a source row is either converted
whole (its base row and any exploded rows, e.g. GCP credits, land) or rejected whole
(its cost goes to ``rejected_totals``). So, per currency,
``source_totals == sum(BilledCost of the batch) + rejected_totals`` when the rules map
BilledCost to the same money as the reconcile cost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from cloudops.focus.columns import EXTENSION_COLUMNS, FOCUS_COLUMNS, FocusColumn
from cloudops.focus.datasets import dataset_columns, dataset_schema
from cloudops.focus.derive import derived_rows
from cloudops.focus.expr import column, decimal_of, evaluate, parse_memo, timestamp_of
from cloudops.focus.nested import prepare_nested
from cloudops.focus.quality import (
    blank_sensitive_columns,
    explain,
    merge_warnings,
    must_read,
    optional_target,
    structure_warning,
    warnings_for,
)
from cloudops.focus.rules import Derive, Explode, Expr, FormatRules
from cloudops.focus.unmapped import nested_json_text, unmapped_columns
from cloudops.focus.values import (
    as_text,
    blank_to_null,
    json_body,
    json_object,
    json_object_map,
    kv_json_body,
    list_parents,
    parse_decimal,
    parse_timestamp,
    wrap_json,
)
from cloudops.schemas.events import ColumnWarning, RejectedRow

__all__ = [
    "ConversionResult",
    "convert_batch",
    "evaluate",
    "focus_schema",
    "parse_decimal",
    "parse_timestamp",
    "sum_by_currency",
]


def focus_schema() -> pa.Schema:
    """Schema of a converted batch: FOCUS columns then extension columns, all nullable."""
    return pa.schema([pa.field(c.name, c.arrow_type, nullable=True) for c in FOCUS_COLUMNS + EXTENSION_COLUMNS])


_SCHEMA = focus_schema()
_INF = float("inf")


def _raw_value(v: object) -> object:
    """A source value for a rejected row's JSON record: NaN/inf as text (valid JSON), decimals plain."""
    if isinstance(v, float) and (v != v or v in (_INF, -_INF)):
        return str(v)
    if isinstance(v, Decimal):
        return f"{v:f}"
    return v


@dataclass(slots=True)
class ConversionResult:
    """What one source batch became.

    ``batch`` holds the converted rows (FOCUS + extension columns, canonical order);
    ``rejected`` the source rows that could not be converted, with reasons;
    ``source_totals`` sums the rules' reconcile cost over *all* source rows whose cost
    parsed, per currency, and ``rejected_totals`` over the rejected ones among them,
    so that ``source == sum(batch.BilledCost) + rejected`` exactly, per currency.
    ``rows_read`` counts source rows (exploded rows are extra FOCUS rows, not source rows).
    ``warnings`` count, per FOCUS column, the landed rows whose optional value could not be
    read and was left null (see :mod:`cloudops.focus.quality`).
    """

    batch: pa.RecordBatch
    rejected: list[RejectedRow]
    source_totals: dict[str, Decimal] = field(default_factory=dict)
    rejected_totals: dict[str, Decimal] = field(default_factory=dict)
    rows_read: int = 0
    warnings: list[ColumnWarning] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        return self.rows_read


def sum_by_currency(values: pa.Array, currency: pa.Array) -> dict[str, Decimal]:
    """Exact per-currency sums of a decimal column (null currency counted under "")."""
    if len(values) == 0:
        return {}
    codes = pc.fill_null(as_text(currency), "")
    distinct = pc.unique(codes)
    if len(distinct) == 1:  # one currency (the usual batch): a plain sum, without a grouping plan
        total = pc.sum(values).as_py()
        return {} if total is None else {distinct[0].as_py(): Decimal(total)}
    t = pa.table({"v": values, "c": codes})
    grouped = t.group_by("c").aggregate([("v", "sum")])
    out: dict[str, Decimal] = {}
    for cur, total in zip(grouped["c"].to_pylist(), grouped["v_sum"].to_pylist(), strict=True):
        if total is not None:
            out[cur] = Decimal(total)
    return out


def _typed(col: FocusColumn, expr: Expr, value: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    if col.kind == "decimal":
        return decimal_of(value, decimal_comma=expr.decimal_comma)
    if col.kind == "datetime":
        return timestamp_of(value, expr.format)
    if col.kind == "integer":
        return pc.cast(value, pa.int64()), None
    if pa.types.is_string(value.type):
        return value, None
    if pa.types.is_map(value.type) or pa.types.is_list(value.type):
        return wrap_json([kv_json_body(value)], len(value)), None
    return as_text(value), None


def _describe(expr: Expr) -> str:
    if expr.from_:
        return f"from {expr.from_}"
    if expr.coalesce:
        return "from " + " / ".join(e.from_ or "expression" for e in expr.coalesce)
    return "rule gave no value"


def _reason(mask: pa.Array, text: str, n: int) -> pa.Array:
    return pc.if_else(mask, pa.scalar(text, pa.string()), pa.nulls(n, pa.string()))


def _tags(rules: FormatRules, table: pa.RecordBatch) -> pa.Array:
    n = table.num_rows
    assert rules.tags is not None
    pairs: list[tuple[str, pa.Array]] = []
    for name in table.schema.names:
        for prefix, key_prefix in rules.tags.prefixes.items():
            if name.startswith(prefix) and len(name) > len(prefix):
                pairs.append((key_prefix + name[len(prefix) :], column(table, name)))
                break
    bodies = [json_body(pairs, n)] if pairs else []
    for src in rules.tags.maps:
        arr = column(table, src.column)
        if not pa.types.is_null(arr.type) and not pa.types.is_string(arr.type):
            bodies.append(kv_json_body(arr, src.prefix, src.rename_prefixes))
    return wrap_json(bodies, n)


def _map_as_json(arr: pa.Array) -> pa.Array:
    """A map column as JSON object text per row (other columns unchanged), for x_Extensions."""
    return wrap_json([kv_json_body(arr)], len(arr)) if pa.types.is_map(arr.type) else arr


_Member = tuple[str, str, str]  # x_Extensions key, source column, how it is read ("ext", "prefix", "unmapped")


def _is_item(name: str) -> bool:
    """An exploded element's column (``item`` or ``item.<field>``), not a source column."""
    return name == "item" or name.startswith("item.")


def _extension_plan(rules: FormatRules, names: list[str]) -> list[_Member]:
    """The members ``x_Extensions`` may hold for a table with columns ``names``, in order."""
    plan: list[_Member] = [(k, src, "ext") for k, src in rules.extensions.items()]
    taken = set(rules.extensions.values())
    for name in names:
        if name in taken or not any(name.startswith(p) for p in rules.extension_prefixes):
            continue
        plan.append((name if name.startswith("x_") else f"x_{name}", name, "prefix"))
    # Source columns no rule reads are kept too (nothing is dropped silently); nested ones as JSON.
    for name in unmapped_columns(rules, names):
        if name in taken or any(name.startswith(p) for p in rules.extension_prefixes):
            continue
        plan.append((name if name.startswith("x_") else f"x_{name}", name, "unmapped"))
    return plan


def _extension_value(table: pa.RecordBatch, source: str, how: str) -> pa.Array | None:
    """A member's value column (None: nothing to keep in this batch)."""
    arr = column(table, source)
    if how == "unmapped" and arr.null_count == len(arr):
        return None  # nothing to keep in this batch (and no JSON to build)
    arr = _map_as_json(arr)
    if pa.types.is_nested(arr.type):
        if how == "prefix":
            return None
        if how == "unmapped":
            arr = nested_json_text(arr)
    return arr


def _extension_object(table: pa.RecordBatch, members: list[_Member]) -> pa.Array:
    pairs = [(k, v) for k, src, how in members if (v := _extension_value(table, src, how)) is not None]
    return json_object(pairs, table.num_rows)


def _runs(plan: list[_Member]) -> list[tuple[bool, list[_Member]]]:
    """``plan`` cut into consecutive runs of members read from ``item`` columns or not."""
    runs: list[tuple[bool, list[_Member]]] = []
    for member in plan:
        item = _is_item(member[1])
        if runs and runs[-1][0] == item:
            runs[-1][1].append(member)
        else:
            runs.append((item, [member]))
    return runs


def _joined(objects: list[pa.Array], n: int) -> pa.Array:
    """JSON objects (null: no member) merged row by row, members in order: one object per row."""
    if len(objects) == 1:
        return objects[0]
    return wrap_json([pc.utf8_slice_codeunits(o, 1, -1) for o in objects], n)


@dataclass(frozen=True, slots=True)
class _SourceExtensions:
    """``x_Extensions`` of the source rows, kept per run of members that read source columns."""

    runs: list[tuple[bool, list[_Member]]]
    objects: list[pa.Array | None]  # per run: its JSON objects (None for runs that read item columns)
    value: pa.Array
    reusable: bool = True

    @classmethod
    def of(cls, rules: FormatRules, raw: pa.RecordBatch) -> _SourceExtensions:
        plan = _extension_plan(rules, raw.schema.names)
        if any(_is_item(name) for name in raw.schema.names):  # (a source column named item...: no reuse)
            return cls([], [], _extension_object(raw, plan), reusable=False)
        runs = _runs(plan)
        objects = [None if item else _extension_object(raw, members) for item, members in runs]
        present = [o for o in objects if o is not None]
        if any(item for item, _ in runs):  # item columns are absent from source rows: no members there
            value = _joined(present, raw.num_rows) if present else pa.nulls(raw.num_rows, pa.string())
        else:
            value = present[0] if present else pa.nulls(raw.num_rows, pa.string())
        return cls(runs, objects, value)

    def for_rows(self, rules: FormatRules, raw: pa.RecordBatch, table: pa.RecordBatch, parents: pa.Array) -> pa.Array:
        """``x_Extensions`` of exploded or derived rows ``table`` (taken from ``raw`` at ``parents``).

        Source members are taken from the source rows; only members reading the rows' own
        ``item`` columns are built. Same text as building it from ``table`` (member order kept).
        """
        names = table.schema.names
        same_source = names[: raw.num_columns] == raw.schema.names and all(
            _is_item(x) for x in names[raw.num_columns :]
        )
        same_source = same_source and self.reusable
        runs = _runs(_extension_plan(rules, names)) if same_source else []
        if not same_source or [r for r in runs if not r[0]] != [r for r in self.runs if not r[0]]:
            return _extension_object(table, _extension_plan(rules, names))  # (not expected: built in full)
        n = table.num_rows
        source = iter(o for o in self.objects if o is not None)
        objects = [
            _extension_object(table, members) if item else pc.take(next(source), parents) for item, members in runs
        ]
        return _joined(objects, n) if objects else pa.nulls(n, pa.string())


@dataclass(frozen=True, slots=True)
class _Dropped:
    """Rows of ``table`` whose ``col`` value could not be read and was left null."""

    col: FocusColumn
    expr: Expr
    table: pa.RecordBatch
    rows: pa.Array


def _focus_rows(
    rules: FormatRules,
    table: pa.RecordBatch,
    overrides: dict[str, Expr],
    *,
    file_id: str,
    batch_id: str,
    row_numbers: pa.Array,
    dropped: list[_Dropped] | None = None,
    extensions: pa.Array | None = None,
) -> tuple[pa.RecordBatch, pa.Array]:
    """FOCUS columns for ``table`` (one output row per input row) and the reason per bad row.

    ``extensions``, when given, is ``x_Extensions`` already built for these rows (see
    ``_SourceExtensions``) and is used as it is.

    An unreadable value rejects its row only where :func:`must_read` says so; elsewhere it is
    left null and its rows are appended to ``dropped`` (for the data-quality warnings).
    """
    n = table.num_rows
    columns: dict[str, pa.Array] = {}
    reasons: list[pa.Array] = []
    unreadable: list[tuple[FocusColumn, Expr, pa.Array]] = []
    schema = dataset_schema(rules.dataset)  # Cost and Usage, or a supporting dataset's own columns
    for col in dataset_columns(rules.dataset):
        expr = overrides.get(col.name, rules.columns.get(col.name))
        if col.name == "Tags" and rules.tags is not None and col.name not in overrides:
            columns[col.name] = _tags(rules, table)
            continue
        if expr is None:
            columns[col.name] = pa.nulls(n, col.arrow_type)
            continue
        raw, raw_bad = evaluate(expr, table)
        value, bad = _typed(col, expr, raw)
        bad = raw_bad if bad is None else (bad if raw_bad is None else pc.or_(bad, raw_bad))
        if bad is not None and pc.any(bad).as_py():
            unreadable.append((col, expr, bad))
        if not col.nullable:
            missing = f"{col.name}: mandatory value missing ({_describe(expr)})"
            reasons.append(_reason(pc.is_null(value), missing, n))
        columns[col.name] = value

    # Unreadable values (rare: nothing below runs on a clean batch). Reasons go first, so a
    # value that could not be read is not reported as merely missing.
    bad_reasons: list[pa.Array] = []
    for col, expr, bad in unreadable:
        must = must_read(col, columns, n)
        reject = bad if must is True else (None if must is False else pc.and_(bad, must))
        keep = None if must is True else (bad if must is False else pc.and_(bad, pc.invert(must)))
        if reject is not None and pc.any(reject).as_py():
            bad_reasons.append(explain(col, col.kind, expr, table, reject))
        if keep is not None and pc.any(keep).as_py():
            columns[col.name] = pc.if_else(keep, pa.scalar(None, col.arrow_type), columns[col.name])
            if dropped is not None:
                dropped.append(_Dropped(col, expr, table, keep))
    reasons = bad_reasons + reasons

    for ext in EXTENSION_COLUMNS:
        if ext.name == "x_Provider":
            if rules.x_provider is not None:
                columns[ext.name] = pc.fill_null(as_text(evaluate(rules.x_provider, table)[0]), rules.provider)
            else:
                columns[ext.name] = pa.nulls(n, pa.string()).fill_null(rules.provider)
        elif ext.name == "x_SourceFormat":
            columns[ext.name] = pa.nulls(n, pa.string()).fill_null(rules.id)
        elif ext.name == "x_FileId":
            columns[ext.name] = pa.nulls(n, pa.string()).fill_null(file_id)
        elif ext.name == "x_BatchId":
            columns[ext.name] = pa.nulls(n, pa.string()).fill_null(batch_id)
        elif ext.name == "x_RowNumber":
            columns[ext.name] = row_numbers
        elif ext.name == "x_Extensions":
            if extensions is None:
                extensions = _extension_object(table, _extension_plan(rules, table.schema.names))
            columns[ext.name] = extensions
    reason = pc.coalesce(*reasons) if reasons else pa.nulls(n, pa.string())
    batch = pa.RecordBatch.from_arrays([columns[f.name] for f in schema], schema=schema)
    return batch, reason


def _exploded(raw: pa.RecordBatch, spec: Explode) -> tuple[pa.RecordBatch, pa.Array]:
    """One row per element of ``spec.list``: the parent's columns plus ``item.<field>``."""
    lists = column(raw, spec.list)
    if pa.types.is_null(lists.type) or raw.num_rows == 0 or lists.null_count == len(lists):
        return raw.slice(0, 0), pa.array([], pa.int64())
    parents = list_parents(lists)
    elems = pc.list_flatten(lists)
    base = raw.take(parents)
    names = list(base.schema.names)
    arrays = list(base.columns)
    if pa.types.is_struct(elems.type):
        flat = pa.Table.from_arrays([elems], names=["item"]).flatten()
        while any(pa.types.is_struct(f.type) for f in flat.schema):
            flat = flat.flatten()
        for name in flat.schema.names:
            names.append(name)
            arrays.append(blank_to_null(flat.column(name).combine_chunks()))  # "" in an element: no value
    else:
        names.append("item")
        arrays.append(blank_to_null(elems))
    return pa.RecordBatch.from_arrays(arrays, names=names), parents


_READ_COLUMNS: dict[int, tuple[FormatRules, tuple[str, ...]]] = {}


def _read_columns(rules: FormatRules) -> tuple[str, ...]:
    """Source columns whose blanks ``_prepare`` makes null (cached per rules object)."""
    hit = _READ_COLUMNS.get(id(rules))
    if hit is None or hit[0] is not rules:
        hit = (rules, tuple(sorted(blank_sensitive_columns(rules))))
        _READ_COLUMNS[id(rules)] = hit
    return hit[1]


def _prepare(
    raw: pa.RecordBatch, rules: FormatRules, drops: list[_BadStructure] | None = None
) -> tuple[pa.RecordBatch, pa.Array | None]:
    """Blank text to null, the rules' ``null_values`` and ``json_maps``; the reason per row whose JSON is bad.

    JSON that cannot be read rejects its row only when the column feeds something that must be
    read (``optional_target`` is None); otherwise the value is null and the rows go to ``drops``.

    Every text column the rules read has its empty and whitespace-only values made null, so
    ``""`` (CUR 2.0 Parquet, JSON lines) means what an empty CSV field means: no value (columns
    read only by typed parsers are left to them: see ``blank_sensitive_columns``).
    """
    n = raw.num_rows
    for name in _read_columns(rules):
        i = raw.schema.get_field_index(name)
        if i >= 0:
            col = raw.column(i)
            cleaned = blank_to_null(col)
            if cleaned is not col:
                raw = raw.set_column(i, pa.field(name, cleaned.type), cleaned)
    if rules.null_values:
        nulls = pa.array(rules.null_values, pa.string())
        for i, field in enumerate(raw.schema):
            if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
                col = raw.column(i)
                hit = pc.fill_null(pc.is_in(col, value_set=pc.cast(nulls, field.type)), False)
                if pc.any(hit).as_py():
                    raw = raw.set_column(i, field, pc.if_else(hit, pa.scalar(None, field.type), col))
    reason: pa.Array | None = None
    for name in rules.json_maps:
        i = raw.schema.get_field_index(name)
        if i < 0:
            continue
        text = raw.column(i)
        maps, bad = json_object_map(text)
        raw = raw.set_column(i, pa.field(name, maps.type), maps)
        if pc.any(bad).as_py():
            target = optional_target(rules, name)
            if target is not None and drops is not None:
                drops.append(_BadStructure(target, name, "not a JSON object", bad, text))
            else:
                why = _reason(bad, f"{name}: not a JSON object", n)
                reason = why if reason is None else pc.coalesce(reason, why)
    if rules.json_types or rules.kv_lists:
        kv = {k: (v.pairs, v.kv) for k, v in rules.kv_lists.items()}
        before = raw
        raw, problems = prepare_nested(raw, rules.json_types, kv)
        for name, bad in problems:
            target = optional_target(rules, name)
            if target is not None and drops is not None:
                text = before.column(before.schema.get_field_index(name))
                drops.append(_BadStructure(target, name, "not valid JSON of the expected shape", bad, text))
            else:
                why = _reason(bad, f"{name}: not valid JSON of the expected shape", n)
                reason = why if reason is None else pc.coalesce(reason, why)
    return raw, reason


@dataclass(frozen=True, slots=True)
class _BadStructure:
    """Rows whose ``source`` JSON could not be read and became null (an optional value)."""

    column: str
    source: str
    reason: str
    rows: pa.Array
    text: pa.Array


def convert_batch(
    raw: pa.RecordBatch,
    rules: FormatRules,
    *,
    file_id: str,
    batch_id: str,
    row_offset: int,
) -> ConversionResult:
    """Convert one batch of source rows (typed or all-text columns, canonical names) to FOCUS.

    Pure and deterministic: the same input always gives the same output. Source rows
    that cannot be converted (unparseable number or date, missing mandatory value, in
    the row itself or in one of its exploded rows) are returned in ``rejected`` with
    the first reason found; the rest convert. Each source array is parsed once per batch
    (``parse_memo``), however many FOCUS columns and the reconcile cost read it.
    """
    with parse_memo():
        return _convert(raw, rules, file_id=file_id, batch_id=batch_id, row_offset=row_offset)


def _convert(
    raw: pa.RecordBatch,
    rules: FormatRules,
    *,
    file_id: str,
    batch_id: str,
    row_offset: int,
) -> ConversionResult:
    n = raw.num_rows
    original = raw
    bad_structure: list[_BadStructure] = []
    raw, prepare_reason = _prepare(raw, rules, bad_structure)
    numbers = pa.array(range(row_offset, row_offset + n), pa.int64())
    dropped: list[_Dropped] = []
    # x_Extensions depends on the source row (and an exploded element's own item columns): built
    # once, and exploded and derived rows take their source row's.
    has_ext = "x_Extensions" in dataset_schema(rules.dataset).names
    source_ext = _SourceExtensions.of(rules, raw) if has_ext else None
    base, base_reason = _focus_rows(
        rules,
        raw,
        {},
        file_id=file_id,
        batch_id=batch_id,
        row_numbers=numbers,
        dropped=dropped,
        extensions=None if source_ext is None else source_ext.value,
    )
    parts = [base]
    part_parents: list[pa.Array | None] = [None]
    part_dropped: list[list[_Dropped]] = [dropped]
    source_reason = base_reason if prepare_reason is None else pc.coalesce(prepare_reason, base_reason)
    # Extra rows per source row: exploded list elements, then derived rows (cloudops.focus.derive).
    extras: list[tuple[Explode | Derive, pa.RecordBatch, pa.Array]] = [(s, *_exploded(raw, s)) for s in rules.explode]
    extras += [(d, *derived_rows(raw, d)) for d in rules.derive]
    for spec, table, parents in extras:
        if table.num_rows == 0:
            continue
        more: list[_Dropped] = []
        rows, reason = _focus_rows(
            rules,
            table,
            spec.columns,
            file_id=file_id,
            batch_id=batch_id,
            row_numbers=pc.take(numbers, parents),
            dropped=more,
            extensions=None if source_ext is None else source_ext.for_rows(rules, raw, table, parents),
        )
        parts.append(rows)
        part_parents.append(parents)
        part_dropped.append(more)
        if pc.any(pc.is_valid(reason)).as_py():
            # Carry the first reason of any exploded row back to its source row.
            bad = pa.table({"p": pc.filter(parents, pc.is_valid(reason)), "r": pc.filter(reason, pc.is_valid(reason))})
            first = bad.group_by("p", use_threads=False).aggregate([("r", "first")])
            idx = pc.index_in(pa.array(range(n), pa.int64()), value_set=first["p"])
            extra = pc.take(first["r_first"], idx)
            prefixed = pc.binary_join_element_wise(f"{spec.name}: ", extra, "")
            source_reason = pc.coalesce(source_reason, prefixed)

    # Reconciliation: the rules' source cost per row, parsed the same way BilledCost is.
    cost, cost_bad = evaluate(rules.reconcile.cost, raw)
    src_cost, parse_bad = decimal_of(cost, decimal_comma=rules.reconcile.cost.decimal_comma)
    unreadable = parse_bad if cost_bad is None else pc.or_(parse_bad, cost_bad)
    if pc.any(unreadable).as_py():  # a row whose cost cannot be read is never landed
        why = explain("reconcile cost", "decimal", rules.reconcile.cost, raw, unreadable)
        source_reason = pc.coalesce(source_reason, why)
    src_cur = as_text(evaluate(rules.reconcile.currency, raw)[0])

    bad_rows = pc.is_valid(source_reason)
    any_bad = pc.any(bad_rows).as_py()
    readable = pc.invert(unreadable)
    source_totals = sum_by_currency(src_cost.filter(readable), src_cur.filter(readable))
    rejected_mask = pc.and_(bad_rows, readable)
    rejected_totals = sum_by_currency(src_cost.filter(rejected_mask), src_cur.filter(rejected_mask))

    kept: list[pa.RecordBatch] = []
    good = pc.invert(bad_rows)
    warnings: list[ColumnWarning] = []
    for rows, parents, drops in zip(parts, part_parents, part_dropped, strict=True):
        keep = good if parents is None else pc.take(good, parents)
        kept.append(rows.filter(keep) if any_bad else rows)
        for d in drops:  # warnings only for rows that land
            warnings.extend(warnings_for(d.col, d.expr, d.table, pc.and_(d.rows, keep) if any_bad else d.rows))
    for s in bad_structure:
        found = structure_warning(s.column, s.source, s.reason, pc.and_(s.rows, good), s.text)
        warnings.extend([found] if found is not None else [])
    # (to_batches() of a table with no rows is an empty list: every source row rejected.)
    combined = pa.Table.from_batches(kept).combine_chunks().to_batches() if len(kept) > 1 else kept[:1]
    batch = combined[0] if combined else kept[0]

    rejected: list[RejectedRow] = []
    if any_bad:
        idx = pc.indices_nonzero(bad_rows)
        plain = original.select([i for i, f in enumerate(original.schema) if not pa.types.is_nested(f.type)])
        bad_raw = plain.take(idx).to_pylist()
        bad_reason = source_reason.take(idx).to_pylist()
        for i, row, why in zip(idx.to_pylist(), bad_raw, bad_reason, strict=True):
            # NaN/inf floats as text: the raw record stays valid JSON (and shows the value as read).
            shown = {k: _raw_value(v) for k, v in row.items() if v is not None}
            rejected.append(RejectedRow(row_number=row_offset + i, reason=str(why), raw=json.dumps(shown, default=str)))
    return ConversionResult(
        batch=batch,
        rejected=rejected,
        source_totals=source_totals,
        rejected_totals=rejected_totals,
        rows_read=n,
        warnings=merge_warnings(warnings),
    )
