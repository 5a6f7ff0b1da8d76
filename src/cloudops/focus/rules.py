"""Conversion rules: one YAML file per provider format, validated when loaded.

A rules file says how to recognise a format from its header and how to compute each
FOCUS column from source columns. ``docs/mappings.md`` is generated from these files
(``cloudops rules docs``). Expressions, all evaluated column-at-a-time:

Sources (exactly one per expression):

* ``from: COL`` - a source column (absent from the file -> null); a bare string is short for it
* ``const: VALUE`` - the same value on every row; ``none: true`` - null on every row
* ``coalesce: [EXPR, ...]`` - first non-null
* ``cases: [{when: COND, then: EXPR}, ...]`` with ``else: EXPR`` - first matching case
* ``add: [EXPR, ...]``, ``sub: [EXPR, EXPR]``, ``mul: [EXPR, EXPR]``, ``neg: EXPR`` - exact decimal
  arithmetic (null operands count as 0 in ``add``/``sub``)
* ``concat: [EXPR, ...]`` (with ``sep``) - text joined; null parts are skipped
* ``json_of: COL`` - a map or list of ``{key, value}`` records as a JSON object
* ``map_get: {column: COL, key: KEY}`` - one value of a map column
* ``sum_list: {column: COL, field: F}`` - per row, the decimal sum of a list of records' field
* ``month_start: EXPR`` / ``month_end: EXPR`` - ``YYYYMM``, ``YYYY-MM`` or a date -> first
  instant of that month / of the next month (UTC)

Modifiers, applied in this order: ``extract: REGEX`` (first group), ``lower``/``upper``,
``map: {src: dst}`` or ``lookup: FILE.csv`` (unmapped values kept, or null with
``drop_unmapped: true``), ``default: VALUE`` (replaces nulls and, with map/lookup, unmapped
values), ``add_days: N`` (the value as a UTC datetime, parsed with this expression's
``format``, plus N days: e.g. an inclusive end date made exclusive). Typing hints for the target
column: ``format: STRPTIME`` or a list of them (datetimes not in ISO 8601; also honoured by
``add_days`` and inside ``month_start``/``month_end``), ``decimal_comma: true`` (numbers written
``1.234,56``).

``COND``: ``{column: COL, in: [..]}``, ``{column: COL, not_in: [..]}``, ``{column: COL, is_null: true}``,
``{column: COL, matches: REGEX}`` (the column's text contains a match; null never matches),
``{column: COL, same_as: COL2}`` (both columns have the same text; null never matches).

Beyond ``columns``: ``aliases`` (canonical column -> other header spellings, matched
without regard to case), ``header_names`` (a regex whose first group is the name to use
for a header it matches, e.g. localised Azure headers ``Abonnement-GUID (SubscriptionGuid)``),
``tags`` (prefixed columns, map and key/value-list columns ->
the FOCUS ``Tags`` object; ``rename_prefixes`` rewrites map keys such as ``user_team``),
``extensions`` / ``extension_prefixes`` (provider columns kept in ``x_Extensions``; map
columns are kept as JSON text), ``explode`` (a list column whose elements become extra
FOCUS rows, e.g. GCP credits), ``derive`` (an extra FOCUS row for each source row meeting ``when``
conditions, except where ``skip_zero`` is exactly 0, with ``columns`` overriding the base row's
rules; its BilledCost must be ``const: 0``, e.g. the unused part of a commitment fee, see
``cloudops.focus.derive``), ``x_provider`` (provider id from the data, for FOCUS files),
``null_values`` (text values meaning "no value", e.g. ``NULL``), ``json_maps`` (columns that
hold a JSON object as text in CSV and a map in Parquet: text is read as a map of text, so
``map_get`` and ``tags.maps`` work on both; a row whose text is not a JSON object is rejected).
Detection: ``detect.all_of`` (every column), ``any_of`` (at least one, when given),
``none_of`` (none). ``dataset`` names the FOCUS dataset the rows belong to (default
``CostAndUsage``; a supporting dataset such as ``ContractCommitment`` has its own columns,
schema and table, see ``cloudops.focus.datasets``).
``json_types`` (types of nested fields, see ``cloudops.focus.nested``: JSON lines are read
with them, and such a field arriving as JSON text, e.g. a CSV flattening, is parsed into its
type; a row whose text is not JSON of that shape is rejected) and ``kv_lists`` (text columns of
``key:value`` pairs, e.g. ``k1:v1;k2:v2``, read as key/value lists for ``tags.maps``).
"""

from __future__ import annotations

import csv
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloudops.focus.columns import EXTENSION_COLUMNS
from cloudops.focus.datasets import dataset_columns
from cloudops.schemas.events import FocusDataset

__all__ = [
    "Case",
    "Condition",
    "Derive",
    "Detect",
    "Explode",
    "Expr",
    "FormatRules",
    "RulesError",
    "load_all_rules",
    "load_lookup",
    "load_rules",
    "rules_dir",
]


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available (4x faster)


class RulesError(ValueError):
    """A rules file is invalid."""


class _M(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Condition(_M):
    column: str
    in_: list[str] | None = Field(None, alias="in")
    not_in: list[str] | None = None
    is_null: bool | None = None
    matches: str | None = None
    same_as: str | None = Field(None, description="Another source column holding the same text (both not null).")

    @model_validator(mode="after")
    def _one(self) -> Condition:
        if sum(x is not None for x in (self.in_, self.not_in, self.is_null, self.matches, self.same_as)) != 1:
            raise ValueError("a condition needs exactly one of in, not_in, is_null, matches, same_as")
        if self.matches is not None:
            import re

            try:
                re.compile(self.matches)
            except re.error as exc:
                raise ValueError(f"matches pattern {self.matches!r} is not a regular expression: {exc}") from None
        return self


class Case(_M):
    when: Condition
    then: Expr


class MapGet(_M):
    column: str
    key: str


class SumList(_M):
    column: str
    field: str


_SOURCES = (
    "from_",
    "const",
    "none",
    "coalesce",
    "cases",
    "add",
    "sub",
    "mul",
    "neg",
    "concat",
    "json_of",
    "map_get",
    "sum_list",
    "month_start",
    "month_end",
)


class Expr(_M):
    from_: str | None = Field(None, alias="from")
    const: str | None = None
    none: bool | None = Field(None, description="`none: true` - no value (null) on every row.")
    coalesce: list[Expr] | None = None
    cases: list[Case] | None = None
    else_: Expr | None = Field(None, alias="else")
    add: list[Expr] | None = None
    sub: list[Expr] | None = None
    mul: list[Expr] | None = None
    neg: Expr | None = None
    concat: list[Expr] | None = None
    sep: str = ""
    json_of: str | None = None
    map_get: MapGet | None = None
    sum_list: SumList | None = None
    month_start: Expr | None = None
    month_end: Expr | None = None
    required: bool = Field(False, description="The source column must be in the file (else the file is bad).")
    extract: str | None = None
    lower: bool = False
    upper: bool = False
    map: dict[str, str] | None = None
    lookup: str | None = None
    default: str | None = None
    drop_unmapped: bool = Field(False, description="With map/lookup: values not in the table become null.")
    add_days: int | None = Field(None, description="The value as a UTC datetime (per `format`) plus N days.")
    format: str | list[str] | None = None
    decimal_comma: bool = False

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `BilledCost: lineItem/UnblendedCost` is short for `{from: lineItem/UnblendedCost}`.
        if isinstance(data, str):
            return {"from": data}
        if isinstance(data, dict):
            # YAML reads unquoted constants such as 0 or true as numbers/bools; rules mean text.
            out = {}
            for k, v in data.items():
                if k in ("const", "default") and v is not None and not isinstance(v, str):
                    v = str(v).lower() if isinstance(v, bool) else str(v)
                if k == "map" and isinstance(v, dict):
                    v = {str(a): str(b) for a, b in v.items()}
                out[k] = v
            return out
        return data

    @model_validator(mode="after")
    def _one_source(self) -> Expr:
        given = [name for name in _SOURCES if getattr(self, name) is not None]
        if len(given) != 1:
            shown = ", ".join(s.rstrip("_") for s in _SOURCES)
            raise ValueError(f"an expression needs exactly one of {shown}; got {given or 'none'}")
        if self.none is False:
            raise ValueError("write `none: true` or leave it out")
        if self.cases is not None and self.else_ is None:
            raise ValueError("cases need an else")
        if self.sub is not None and len(self.sub) != 2:
            raise ValueError("sub takes exactly two operands")
        if self.mul is not None and len(self.mul) != 2:
            raise ValueError("mul takes exactly two operands")
        if self.map is not None and self.lookup is not None:
            raise ValueError("use map or lookup, not both")
        if self.drop_unmapped and self.map is None and self.lookup is None:
            raise ValueError("drop_unmapped needs map or lookup")
        if self.extract is not None:
            import re

            import pyarrow as pa
            import pyarrow.compute as pc

            try:
                groups = re.compile(self.extract).groups
                pc.match_substring_regex(pa.array([""], pa.string()), self.extract)  # Arrow's RE2 must accept it
            except (re.error, pa.ArrowInvalid) as exc:
                raise ValueError(
                    f"extract pattern {self.extract!r} is not a usable regular expression: {exc}"
                ) from None
            if groups < 1:
                raise ValueError(f"extract pattern {self.extract!r} needs a capturing group")
        return self

    def children(self) -> list[Expr]:
        """Sub-expressions, in evaluation order."""
        out: list[Expr] = []
        for group in (self.coalesce, self.add, self.sub, self.mul, self.concat):
            out.extend(group or [])
        for case in self.cases or []:
            out.append(case.then)
        for single in (self.else_, self.neg, self.month_start, self.month_end):
            if single is not None:
                out.append(single)
        return out

    def source_columns(self) -> set[str]:
        """Every source column the expression reads."""
        cols: set[str] = set()
        if self.from_:
            cols.add(self.from_)
        if self.json_of:
            cols.add(self.json_of)
        if self.map_get:
            cols.add(self.map_get.column)
        if self.sum_list:
            cols.add(self.sum_list.column)
        for case in self.cases or []:
            cols.add(case.when.column)
            if case.when.same_as is not None:
                cols.add(case.when.same_as)
        for child in self.children():
            cols |= child.source_columns()
        return cols

    def required_columns(self) -> set[str]:
        """Source columns that must be present in the file."""
        cols = {self.from_} if self.required and self.from_ else set()
        for child in self.children():
            cols |= child.required_columns()
        return cols


class Detect(_M):
    all_of: list[str] = Field(description="Columns that must all be in the header (after aliasing).")
    any_of: list[str] = Field(
        default_factory=list, description="At least one of these columns must be in the header (if any are given)."
    )
    none_of: list[str] = Field(default_factory=list, description="Columns that must not be in the header.")


class Reconcile(_M):
    cost: Expr = Field(description="Per-row source cost whose sum per currency must equal landed BilledCost.")
    currency: Expr = Field(description="Per-row billing currency.")


class TagSource(_M):
    column: str
    prefix: str = ""
    rename_prefixes: dict[str, str] = Field(
        default_factory=dict,
        description="Key prefix -> replacement (first match, before `prefix`), e.g. `user_: ''` for CUR 2.0 tags.",
    )


class Tags(_M):
    prefixes: dict[str, str] = Field(default_factory=dict, description="Column name prefix -> tag key prefix.")
    maps: list[TagSource] = Field(default_factory=list, description="Map columns (or key/value lists).")


class Explode(_M):
    name: str = Field(description="What the extra rows are (shown in docs), e.g. `credits`.")
    list: str = Field(description="List-of-records column; each element becomes one extra FOCUS row.")
    columns: dict[str, Expr] = Field(
        description="Rules for the extra rows (others as for the base row); `item.F` is the element's F."
    )


class Derive(_M):
    """A conditional extra FOCUS row derived from a source row's scalar columns (see ``cloudops.focus.derive``)."""

    name: str = Field(description="What the extra rows are (shown in docs and in rejection reasons).")
    when: list[Condition] = Field(
        min_length=1, description="Conditions on the source row (one, or a list that must all hold)."
    )
    skip_zero: Expr | None = Field(
        None,
        description="No derived row where this decimal expression is exactly 0 (e.g. a fully used commitment); "
        "null or unreadable does not skip (the derived row's own rules then reject the source row).",
    )
    columns: dict[str, Expr] = Field(
        description="Rules for the derived row (others as for the base row). `BilledCost` must be `const: 0`: "
        "a derived row never changes billed totals, so reconciliation stays exact."
    )

    @model_validator(mode="before")
    @classmethod
    def _one_condition(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("when"), dict):
            return {**data, "when": [data["when"]]}
        return data

    @model_validator(mode="after")
    def _billed_zero(self) -> Derive:
        billed = self.columns.get("BilledCost")
        try:
            zero = billed is not None and billed.const is not None and Decimal(billed.const) == 0
        except InvalidOperation:
            zero = False
        if not zero:
            raise ValueError(f"derive {self.name!r}: BilledCost must be `const: 0` (a derived row bills nothing)")
        return self


class KvList(_M):
    pairs: str = Field(";", min_length=1, description="Separator between pairs.")
    kv: str = Field(":", min_length=1, description="Separator between a key and its value (first one counts).")


class FormatRules(_M):
    id: str
    provider: str
    title: str
    description: str = ""
    source: str = Field("", description="Where the format is documented (docs, schema reference).")
    priority: int = Field(0, description="Higher wins when several formats match a header.")
    dataset: FocusDataset = Field(
        "CostAndUsage",
        description="FOCUS dataset the rows belong to: CostAndUsage, or a supporting dataset such as "
        "ContractCommitment (see `cloudops.focus.datasets`); `columns` name that dataset's columns.",
    )
    detect: Detect
    aliases: dict[str, list[str]] = Field(default_factory=dict)
    header_names: str | None = Field(
        None,
        description=(
            "Regex: a header name it matches is read as its first group before aliasing, e.g. localised"
            " Azure headers `Abonnement-GUID (SubscriptionGuid)` with `\\(([A-Za-z0-9_]+)\\)\\s*$`."
        ),
    )
    reconcile: Reconcile
    columns: dict[str, Expr]
    tags: Tags | None = None
    extensions: dict[str, str] = Field(default_factory=dict, description="x_ key -> source column.")
    extension_prefixes: list[str] = Field(
        default_factory=list,
        description="Every source column starting with one of these is kept in x_Extensions.",
    )
    explode: list[Explode] = Field(default_factory=list)
    derive: list[Derive] = Field(
        default_factory=list,
        description="Conditional extra rows from scalar columns, e.g. the unused part of a commitment fee.",
    )
    x_provider: Expr | None = Field(None, description="Provider id per row (default: the `provider` field).")
    null_values: list[str] = Field(
        default_factory=list, description="Text values that mean no value in every text column (e.g. `NULL`)."
    )
    json_maps: list[str] = Field(
        default_factory=list,
        description="Columns holding a JSON object as text (CSV) or a map (Parquet); text is read as a map of text.",
    )
    json_types: dict[str, Any] = Field(
        default_factory=dict,
        description="Types of nested fields (`string`, `float64`, `decimal(P,S)`, `{field: T}`, `[T]`): JSON lines "
        "are read with them; a field that arrives as JSON text (CSV) is parsed into its type.",
    )
    kv_lists: dict[str, KvList] = Field(
        default_factory=dict, description="Text columns of `key:value` pairs read as key/value lists (for tags)."
    )

    @model_validator(mode="after")
    def _check(self) -> FormatRules:
        if self.json_types:
            from cloudops.focus.nested import json_schema

            json_schema(self.json_types)  # ValueError names the bad type
        try:
            targets = dataset_columns(self.dataset)
        except KeyError:
            raise ValueError(f"unknown FOCUS dataset {self.dataset!r}") from None
        known = {c.name for c in targets + EXTENSION_COLUMNS}
        extra_columns = [c for e in self.explode for c in e.columns] + [c for d in self.derive for c in d.columns]
        for name in list(self.columns) + extra_columns:
            if name not in known:
                raise ValueError(f"unknown FOCUS column {name!r}")
        missing = [c.name for c in targets if not c.nullable and c.name not in self.columns]
        if missing:
            raise ValueError(f"mandatory FOCUS columns without a rule: {', '.join(missing)}")
        if "Tags" in self.columns and self.tags is not None:
            raise ValueError("Tags is set both by a column rule and by tags")
        for key in self.extensions:
            if not key.startswith("x_"):
                raise ValueError(f"extension key {key!r} must start with x_")
        if self.header_names is not None:
            try:
                groups = re.compile(self.header_names).groups
            except re.error as exc:
                raise ValueError(
                    f"header_names pattern {self.header_names!r} is not a regular expression: {exc}"
                ) from None
            if groups < 1:
                raise ValueError(f"header_names pattern {self.header_names!r} needs a capturing group")
        seen: dict[str, str] = {}
        for canonical, spellings in self.aliases.items():
            for s in [canonical, *spellings]:
                other = seen.setdefault(s.casefold(), canonical)
                if other != canonical:
                    raise ValueError(f"alias {s!r} given for both {other!r} and {canonical!r}")
        return self

    def all_exprs(self) -> list[Expr]:
        """Every expression in the rules, nested ones included."""
        roots = [*self.columns.values(), self.reconcile.cost, self.reconcile.currency]
        roots += [e for ex in self.explode for e in ex.columns.values()]
        for d in self.derive:
            roots += [*d.columns.values(), *([d.skip_zero] if d.skip_zero is not None else [])]
        if self.x_provider is not None:
            roots.append(self.x_provider)
        return _walk(roots)

    def source_columns(self) -> set[str]:
        """Every source column the rules read (tag and prefix columns excluded)."""
        cols = set(self.extensions.values())
        for expr in self.all_exprs():
            cols |= expr.source_columns() if expr.from_ is None else {expr.from_}
        for ex in self.explode:
            cols.add(ex.list)
        cols |= {cond.column for d in self.derive for cond in d.when}
        cols |= {cond.same_as for d in self.derive for cond in d.when if cond.same_as is not None}
        for t in self.tags.maps if self.tags else []:
            cols.add(t.column)
        return {c for c in cols if not c.startswith("item.")}

    def required_columns(self) -> set[str]:
        """Source columns the file must have (detection columns and ``required`` ones)."""
        cols = set(self.detect.all_of)
        for expr in self.all_exprs():
            cols |= expr.required_columns()
        return cols

    def canonical_names(self, header: list[str]) -> dict[str, str]:
        """Header name -> canonical name, for the header names that are aliases."""
        lookup = {s.casefold(): canonical for canonical, spellings in self.aliases.items() for s in spellings}
        lookup.update({c.casefold(): c for c in self.aliases})
        pattern = re.compile(self.header_names) if self.header_names else None
        out: dict[str, str] = {}
        for name in header:
            clean = name.strip().lstrip("\ufeff")
            found = pattern.search(clean) if pattern is not None else None
            if found is not None and found.group(1):
                clean = found.group(1).strip()  # e.g. "Abonnement-GUID (SubscriptionGuid)" -> "SubscriptionGuid"
            canonical = lookup.get(clean.casefold(), clean if found is not None else None)
            if canonical is not None and canonical != name:
                out[name] = canonical
        return out


def rules_dir() -> Path:
    """Folder holding the packaged rules files and lookup tables."""
    return Path(str(resources.files("cloudops.focus") / "rules"))


def load_rules(path: Path) -> FormatRules:
    """Load and validate one rules file; raises RulesError naming the file and the problem."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
        rules = FormatRules.model_validate(data)
    except (yaml.YAMLError, ValueError) as exc:
        raise RulesError(f"{path.name}: {exc}") from exc
    for expr in rules.all_exprs():
        if expr.lookup and not (rules_dir() / expr.lookup).is_file():
            raise RulesError(f"{path.name}: lookup table {expr.lookup!r} not found in {rules_dir()}")
    return rules


def _walk(exprs: Any) -> list[Expr]:
    out: list[Expr] = []
    for e in exprs:
        out.append(e)
        out.extend(_walk(e.children()))
    return out


@lru_cache(maxsize=1)
def load_all_rules() -> tuple[FormatRules, ...]:
    """Every packaged rules file, validated, highest priority first."""
    found = [load_rules(p) for p in sorted(rules_dir().glob("*.yaml"))]
    ids = [r.id for r in found]
    if len(ids) != len(set(ids)):
        raise RulesError(f"duplicate rules ids: {ids}")
    return tuple(sorted(found, key=lambda r: -r.priority))


@lru_cache(maxsize=32)
def load_lookup(name: str) -> dict[str, str]:
    """A two-column lookup table (header row, then key,value) from the rules folder."""
    with (rules_dir() / name).open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        return {row[0]: row[1] for row in reader if len(row) >= 2}
