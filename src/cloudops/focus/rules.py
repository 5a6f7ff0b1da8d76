"""Conversion rules: one YAML file per provider format, validated when loaded.

A rules file says how to recognise a format from its header and how to compute each
FOCUS column from source columns. Expressions (all evaluated column-at-a-time):

* ``from: COL`` - a source column (absent from the file -> null, unless ``required``)
* ``const: VALUE`` - the same value on every row; ``none: true`` - null on every row
* ``coalesce: [COL, ...]`` - first non-null of several source columns
* ``cases: [{when: COND, then: EXPR}, ...]`` with ``else: EXPR`` - first matching case
* modifiers on any of the above: ``map: {src: dst}`` (unmapped values kept),
  ``lookup: FILE.csv`` (two-column table beside the rules; unmapped values kept),
  ``default: VALUE`` (replaces nulls and, with map/lookup, unmapped values),
  ``format: STRPTIME`` (datetime columns not in ISO 8601)
* ``COND``: ``{column: COL, in: [..]}``, ``{column: COL, not_in: [..]}``, ``{column: COL, is_null: true}``

``tags`` turns prefixed source columns (``resourceTags/user:Team``) into the FOCUS
``Tags`` JSON object; ``extensions`` keeps provider columns in ``x_Extensions``.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloudops.focus.columns import FOCUS_COLUMNS, column_by_name

__all__ = [
    "Case",
    "Condition",
    "Detect",
    "Expr",
    "FormatRules",
    "RulesError",
    "load_all_rules",
    "load_lookup",
    "load_rules",
    "rules_dir",
]


class RulesError(ValueError):
    """A rules file is invalid."""


class _M(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Condition(_M):
    column: str
    in_: list[str] | None = Field(None, alias="in")
    not_in: list[str] | None = None
    is_null: bool | None = None

    @model_validator(mode="after")
    def _one(self) -> Condition:
        if sum(x is not None for x in (self.in_, self.not_in, self.is_null)) != 1:
            raise ValueError("a condition needs exactly one of in, not_in, is_null")
        return self


class Case(_M):
    when: Condition
    then: Expr


class Expr(_M):
    from_: str | None = Field(None, alias="from")
    const: str | None = None
    coalesce: list[str] | None = None
    cases: list[Case] | None = None
    else_: Expr | None = Field(None, alias="else")
    none: bool | None = Field(None, description="`none: true` - no value (null) on every row.")
    required: bool = False
    map: dict[str, str] | None = None
    lookup: str | None = None
    default: str | None = None
    format: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `BilledCost: lineItem/UnblendedCost` is short for `{from: lineItem/UnblendedCost}`.
        if isinstance(data, str):
            return {"from": data}
        if isinstance(data, dict):
            # YAML reads unquoted constants such as 0 or true as numbers/bools; rules mean text.
            return {
                k: (str(v) if k in ("const", "default") and v is not None else v) for k, v in data.items()
            }
        return data

    @model_validator(mode="after")
    def _one_source(self) -> Expr:
        n = sum(x is not None for x in (self.from_, self.const, self.coalesce, self.cases, self.none))
        if n != 1:
            raise ValueError("an expression needs exactly one of from, const, coalesce, cases, none")
        if self.none is False:
            raise ValueError("write `none: true` or leave it out")
        if self.cases is not None and self.else_ is None:
            raise ValueError("cases need an else")
        return self

    def source_columns(self) -> set[str]:
        """Every source column the expression reads."""
        cols: set[str] = set()
        if self.from_:
            cols.add(self.from_)
        if self.coalesce:
            cols.update(self.coalesce)
        for case in self.cases or []:
            cols.add(case.when.column)
            cols |= case.then.source_columns()
        if self.else_:
            cols |= self.else_.source_columns()
        return cols


class Detect(_M):
    all_of: list[str] = Field(description="Columns that must all be in the header.")
    none_of: list[str] = Field(default_factory=list, description="Columns that must not be in the header.")


class Reconcile(_M):
    cost: str = Field(description="Source column whose per-currency sum must equal landed BilledCost.")
    currency: str = Field(description="Source column with the billing currency.")


class Tags(_M):
    prefixes: dict[str, str] = Field(description="Source column prefix -> tag key prefix.")


class FormatRules(_M):
    id: str
    provider: str
    title: str
    description: str = ""
    priority: int = Field(0, description="Higher wins when several formats match a header.")
    detect: Detect
    reconcile: Reconcile
    columns: dict[str, Expr]
    tags: Tags | None = None
    extensions: dict[str, str] = Field(default_factory=dict, description="x_ key -> source column.")

    @model_validator(mode="after")
    def _check(self) -> FormatRules:
        for name in self.columns:
            try:
                column_by_name(name)
            except KeyError:
                raise ValueError(f"unknown FOCUS column {name!r}") from None
        missing = [c.name for c in FOCUS_COLUMNS if not c.nullable and c.name not in self.columns]
        if missing:
            raise ValueError(f"mandatory FOCUS columns without a rule: {', '.join(missing)}")
        if "Tags" in self.columns and self.tags is not None:
            raise ValueError("Tags is set both by a column rule and by tags")
        for key in self.extensions:
            if not key.startswith("x_"):
                raise ValueError(f"extension key {key!r} must start with x_")
        return self

    def source_columns(self) -> set[str]:
        """Every source column the rules read (tag columns excluded)."""
        cols = {self.reconcile.cost, self.reconcile.currency, *self.extensions.values()}
        for expr in self.columns.values():
            cols |= expr.source_columns()
        return cols


def rules_dir() -> Path:
    """Folder holding the packaged rules files and lookup tables."""
    return Path(str(resources.files("cloudops.focus") / "rules"))


def load_rules(path: Path) -> FormatRules:
    """Load and validate one rules file; raises RulesError naming the file and the problem."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        rules = FormatRules.model_validate(data)
    except (yaml.YAMLError, ValueError) as exc:
        raise RulesError(f"{path.name}: {exc}") from exc
    for expr in _walk(rules.columns.values()):
        if expr.lookup and not (path.parent / expr.lookup).is_file():
            raise RulesError(f"{path.name}: lookup table {expr.lookup!r} not found")
    return rules


def _walk(exprs: Any) -> list[Expr]:
    out: list[Expr] = []
    for e in exprs:
        out.append(e)
        out.extend(_walk([c.then for c in e.cases or []]))
        if e.else_:
            out.extend(_walk([e.else_]))
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
