"""Check a FOCUS table against the FOCUS 1.2 requirements model, column at a time.

The model is the FinOps Foundation's machine-readable FOCUS 1.2 requirements
(``requirements/focus_validator_model-1.2.json``, MIT, from finopsfoundation/focus_validator):
621 rules, each with a keyword (MUST, SHOULD, ...), an optional row ``Condition`` and a
``Requirement`` built from check functions. This module interprets the static, executable
ones with pyarrow compute (no Python loop per row; JSON tags are parsed once per distinct
value):

* presence of columns (``ColumnPresent``), physical types (``TypeDecimal``, ``TypeString``,
  ``TypeDateTime``; a CSV read as text passes when every value parses),
* formats (date-times in UTC, numbers, ASCII strings, units, currency codes, JSON key-value
  objects), nullability and allowed values (``CheckValue``/``CheckNotValue`` with ``AND``/``OR``),
* cross-column rules (``CheckSameValue``, ``CheckNotSameValue``, ``CheckDistinctCount``,
  ``ColumnByColumnEqualsColumnValue``, ``CheckGreaterOrEqualThanValue``) under their row
  conditions, e.g. ``ChargeClass`` is ``Correction`` when not null, ``CommitmentDiscountStatus``
  only on rows with a ``CommitmentDiscountId``.

Not checked (listed in the report's ``skipped`` with the reason): ``Dynamic`` rules (they need
knowledge outside the data), ``MAY`` rules, composite rules (their parts are checked one by
one), ``CheckDecimalValue`` (skipped by the official validator too), rules on columns the file
does not have (the presence rules cover those) and, unless asked for, presence rules that
depend on what the provider supports (applicability criteria). A few rules whose encoding in
the model contradicts the FOCUS 1.2 text are corrected by :data:`ERRATA`.

MUST/MUST NOT findings are errors, SHOULD/RECOMMENDED/SHOULD NOT findings warnings. Pure: no I/O
besides reading the packaged model once.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "ALL",
    "ERRATA",
    "NOT_FROM_DATA",
    "Finding",
    "OfficialResult",
    "ValidationReport",
    "currency_codes",
    "load_model",
    "parse_junit",
    "unit_format_regex",
    "validate_table",
]

ALL = "ALL"
Severity = Literal["error", "warning"]
MODEL_FILE = "focus_validator_model-1.2.json"

# Rules whose model encoding contradicts the FOCUS 1.2 specification text; the text wins.
ERRATA: dict[str, dict[str, Any]] = {
    # "MUST be null when CommitmentDiscountId is null": the model requires NOT null.
    "CommitmentDiscountStatus-C-003-C": {
        "Requirement": {"CheckFunction": "CheckValue", "ColumnName": "CommitmentDiscountStatus", "Value": None},
    },
    # "MUST NOT be null when CommitmentDiscountId is not null and ChargeCategory is Usage":
    # the model's condition is "CommitmentDiscountId is null".
    "CommitmentDiscountStatus-C-004-C": {
        "Condition": {
            "CheckFunction": "AND",
            "Items": [
                {"CheckFunction": "CheckNotValue", "ColumnName": "CommitmentDiscountId", "Value": None},
                {"CheckFunction": "CheckValue", "ColumnName": "ChargeCategory", "Value": "Usage"},
            ],
        },
    },
    # FOCUS 1.2 allows Used and Unused; the model lists the 1.3 draft's Active/Expired/Pending.
    "CommitmentDiscountStatus-C-005-M": {
        "Requirement": {
            "CheckFunction": "OR",
            "Items": [
                {"CheckFunction": "CheckValue", "ColumnName": "CommitmentDiscountStatus", "Value": "Used"},
                {"CheckFunction": "CheckValue", "ColumnName": "CommitmentDiscountStatus", "Value": "Unused"},
            ],
        },
    },
    # The model names the condition's column with the key "CheckCondition" instead of "ColumnName".
    "ResourceType-C-005-C": {
        "Condition": {"CheckFunction": "CheckNotValue", "ColumnName": "ResourceId", "Value": None},
    },
    # "PricingCurrencyEffectiveCost MUST be >= 0"-style rule points at the wrong column in the model.
    "PricingCurrencyEffectiveCost-C-004-M": {
        "Requirement": {"CheckFunction": "CheckDecimalValue", "ColumnName": "PricingCurrencyEffectiveCost"},
    },
}

# Rules the model encodes as unconditional although they depend on facts outside the data.
NOT_FROM_DATA: dict[str, str] = {
    "InvoiceId-C-004-C": "needs to know whether the charge is on an invoice (the model makes InvoiceId always null)",
    "InvoiceId-C-005-C": "needs to know whether the charge is on an invoice (the model makes InvoiceId never null)",
}

_ERROR_KEYWORDS = {"MUST", "MUST NOT"}
_WARNING_KEYWORDS = {"SHOULD", "SHOULD NOT", "RECOMMENDED"}
_COLUMN_ARGS = ("ColumnName", "ColumnAName", "ColumnBName", "ResultColumnName")
_NUMERIC_RE = r"^\s*[+-]?([0-9]*[.])?[0-9]+([eE][+-]?[0-9]+)?\s*$"
_DATETIME_RE = r"^[0-9]{4}-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z$"
_ASCII_RE = r"^[\x00-\x7F]*$"


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule that failed: which rule, what it checks, how many rows break it, one example.

    ``rows_failing`` is None for dataset-level rules (a column missing or of the wrong type).
    """

    rule_id: str
    check: str
    column: str
    keyword: str
    severity: Severity
    rows_failing: int | None
    example: str | None
    requirement: str


@dataclass(frozen=True)
class ValidationReport:
    """Outcome of :func:`validate_table`: findings, how many rules ran, which were skipped and why."""

    rows: int
    findings: tuple[Finding, ...]
    checked: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def ok(self) -> bool:
        """True when no MUST rule fails."""
        return not self.errors

    def failed_ids(self) -> set[str]:
        return {f.rule_id for f in self.findings}


@lru_cache(maxsize=1)
def load_model() -> dict[str, Any]:
    """The packaged FOCUS 1.2 requirements model (parsed JSON)."""
    text = (resources.files("cloudops.focus") / "requirements" / MODEL_FILE).read_text(encoding="utf-8")
    model: dict[str, Any] = json.loads(text)
    return model


@lru_cache(maxsize=1)
def currency_codes() -> frozenset[str]:
    """ISO 4217 national currency codes (packaged copy of the official validator's list)."""
    text = (resources.files("cloudops.focus") / "requirements" / "currency_codes.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(text.splitlines()))
    idx = rows[0].index("currency_codes")
    return frozenset(r[idx].strip() for r in rows[1:] if len(r) > idx and r[idx].strip())


def unit_format_regex() -> str:
    """FOCUS UnitFormat as one regular expression (the official validator's reading of the spec)."""
    size = ["b", "Kb", "Mb", "Gb", "Tb", "Pb", "Eb", "B", "KB", "MB", "GB", "TB", "PB", "EB"]
    size += ["Kib", "Mib", "Gib", "Tib", "Pib", "Eib", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    time_one = ["Year", "Month", "Day", "Hour", "Minute", "Second"]
    time_many = [t + "s" for t in time_one]
    s, t1, tn = "|".join(size), "|".join(time_one), "|".join(time_many)
    count = r"[A-Za-z][A-Za-z0-9]*(?:\s+[A-Za-z][A-Za-z0-9]*)*"
    patterns = [
        f"^({s}|{t1}|{tn}|{count})$",
        f"^({s}|{count})-({tn})$",
        f"^({s}|{count}|{tn})/({t1})$",
        f"^[0-9]+ ({s}|{t1}|{tn}|{count})$",
        f"^({s}|{count}|{tn})/[0-9]+ ({tn})$",
    ]
    return "|".join(f"({p})" for p in patterns)


class _Unsupported(Exception):
    """A check function this module does not evaluate (the rule is skipped)."""


class _DatasetFailure(Exception):
    """A dataset-level check failed (wrong physical type, ...)."""

    def __init__(self, example: str) -> None:
        super().__init__(example)
        self.example = example


def _columns_of(check: Any) -> set[str]:
    out: set[str] = set()
    if isinstance(check, dict):
        for k, v in check.items():
            if k in _COLUMN_ARGS and isinstance(v, str):
                out.add(v)
            else:
                out |= _columns_of(v)
    elif isinstance(check, list):
        for v in check:
            out |= _columns_of(v)
    return out


def _is_composite(check: Any) -> bool:
    return "CheckModelRule" in json.dumps(check)


class _Table:
    """Column access with caching; absent columns read as all-null text."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.n = table.num_rows
        self._arrays: dict[str, pa.Array] = {}
        self._text: dict[str, pa.Array] = {}
        self._num: dict[str, pa.Array] = {}

    def has(self, name: str) -> bool:
        return name in self.table.column_names

    def array(self, name: str) -> pa.Array:
        if name not in self._arrays:
            if self.has(name):
                self._arrays[name] = self.table.column(name).combine_chunks()
            else:
                self._arrays[name] = pa.nulls(self.n, pa.string())
        return self._arrays[name]

    def text(self, name: str) -> pa.Array:
        if name not in self._text:
            arr = self.array(name)
            if pa.types.is_timestamp(arr.type):
                self._text[name] = pc.strftime(arr, format="%Y-%m-%dT%H:%M:%SZ")
            elif pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
                self._text[name] = arr
            else:
                self._text[name] = pc.cast(arr, pa.string())
        return self._text[name]

    def number(self, name: str) -> pa.Array:
        """The column as float64; text that is not a number becomes null."""
        if name not in self._num:
            arr = self.array(name)
            if _is_numeric_type(arr.type):
                self._num[name] = pc.cast(arr, pa.float64())
            else:
                txt = pc.utf8_trim_whitespace(self.text(name))
                good = pc.fill_null(pc.match_substring_regex(txt, _NUMERIC_RE), False)
                self._num[name] = pc.cast(pc.if_else(good, txt, pa.scalar(None, pa.string())), pa.float64())
        return self._num[name]


def _is_numeric_type(t: pa.DataType) -> bool:
    return bool(pa.types.is_decimal(t) or pa.types.is_floating(t) or pa.types.is_integer(t))


def _is_text_type(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t))


def _true(n: int) -> pa.Array:
    return pa.array([True] * n, pa.bool_()) if n < 1024 else pc.is_valid(pa.array(range(n)))


def _fill(mask: pa.Array, value: bool) -> pa.Array:
    return pc.fill_null(mask, value)


def _value_mask(t: _Table, col: str, value: Any, null_matches: bool = False) -> pa.Array:
    """Rows where ``col`` equals ``value`` (None: is null); a null equals a value only if ``null_matches``."""
    if value is None:
        return pc.is_null(t.array(col))
    if isinstance(value, bool):
        value = str(value).lower()
    if isinstance(value, int | float):
        return _fill(pc.equal(t.number(col), float(value)), null_matches)
    return _fill(pc.equal(t.text(col), str(value)), null_matches)


def _regex_ok(t: _Table, col: str, pattern: str) -> pa.Array:
    return _fill(pc.match_substring_regex(t.text(col), pattern), True)


def _row_mask(t: _Table, check: Any, requirement: bool = False) -> pa.Array:
    """Rows satisfying ``check`` (a boolean array without nulls).

    In a requirement a value check passes on null (nullability is its own rule: "MUST be one
    of the allowed values" does not forbid null); in a condition a null matches no value, and
    "is not X" holds for null.
    """
    if not isinstance(check, dict):
        raise _Unsupported(f"not a check: {check!r}")
    if "AND" in check or "OR" in check:  # {"AND": [...]} form used by a few conditions
        op = "AND" if "AND" in check else "OR"
        check = {"CheckFunction": op, "Items": check[op]}
    fn = check.get("CheckFunction")
    if fn in ("AND", "OR"):
        masks = [_row_mask(t, item, requirement) for item in check["Items"]]
        out = masks[0]
        for m in masks[1:]:
            out = pc.and_(out, m) if fn == "AND" else pc.or_(out, m)
        return out
    col = check.get("ColumnName", "")
    if fn == "CheckValue":
        return _value_mask(t, col, check.get("Value"), null_matches=requirement)
    if fn == "CheckNotValue":
        return pc.invert(_value_mask(t, col, check.get("Value")))
    if fn in ("CheckSameValue", "CheckNotSameValue"):
        a, b = t.text(check["ColumnAName"]), t.text(check["ColumnBName"])
        both_null = pc.and_(pc.is_null(a), pc.is_null(b))
        same = pc.or_(_fill(pc.equal(a, b), False), both_null)
        return same if fn == "CheckSameValue" else pc.invert(same)
    if fn == "CheckGreaterOrEqualThanValue":
        return _fill(pc.greater_equal(t.number(col), float(check["Value"])), True)
    if fn == "ColumnByColumnEqualsColumnValue":
        a, b, r = (t.number(check[k]) for k in ("ColumnAName", "ColumnBName", "ResultColumnName"))
        diff = pc.abs(pc.subtract(pc.multiply(a, b), r))
        tol = pc.multiply(pc.max_element_wise(pc.abs(r), 1.0), 1e-9)
        return _fill(pc.less_equal(diff, tol), True)
    if fn == "FormatString":
        return _regex_ok(t, col, _ASCII_RE)
    if fn == "FormatNumeric":
        if _is_numeric_type(t.array(col).type):
            return _true(t.n)
        return _regex_ok(t, col, _NUMERIC_RE)
    if fn in ("FormatDateTime", "TypeDateTime"):
        arr = t.array(col)
        if pa.types.is_timestamp(arr.type):
            if arr.type.tz not in ("UTC", "Etc/UTC", "+00:00", "Z"):
                raise _DatasetFailure(f"{col} is {arr.type}, not a UTC timestamp")
            return _true(t.n)
        if pa.types.is_date(arr.type):
            return _true(t.n)
        if not _is_text_type(arr.type):
            raise _DatasetFailure(f"{col} is {arr.type}")
        return _regex_ok(t, col, _DATETIME_RE)
    if fn == "TypeDecimal":
        arr = t.array(col)
        if _is_numeric_type(arr.type):
            return _true(t.n)
        if not _is_text_type(arr.type):
            raise _DatasetFailure(f"{col} is {arr.type}")
        return _regex_ok(t, col, _NUMERIC_RE)
    if fn == "TypeString":
        arr = t.array(col)
        if not _is_text_type(arr.type):
            raise _DatasetFailure(f"{col} is {arr.type}, not a string")
        return _true(t.n)
    if fn == "FormatUnit":
        return _regex_ok(t, col, unit_format_regex())
    if fn == "FormatCurrency":
        return _regex_ok(t, col, r"^[A-Z]{3}$")
    if fn == "CheckNationalCurrency":
        codes = pa.array(sorted(currency_codes()), pa.string())
        return pc.or_(pc.is_in(pc.utf8_trim_whitespace(t.text(col)), value_set=codes), pc.is_null(t.array(col)))
    if fn == "FormatKeyValue":
        return _key_value_ok(t, col)
    raise _Unsupported(f"check function {fn} is not evaluated")


def _key_value_ok(t: _Table, col: str) -> pa.Array:
    """JSON objects (or null): parse each distinct text once."""
    arr = t.text(col)
    distinct = pc.unique(arr).to_pylist()
    good = []
    for value in distinct:
        if value is None:
            continue
        try:
            if isinstance(json.loads(value), dict):
                good.append(value)
        except ValueError:
            pass
    return pc.or_(_fill(pc.is_in(arr, value_set=pa.array(good, pa.string())), False), pc.is_null(arr))


def _distinct_count_violations(t: _Table, check: dict[str, Any], cond: pa.Array) -> pa.Array:
    """Rows in groups of column A (non-null, under the condition) whose distinct B count differs."""
    a, b = t.text(check["ColumnAName"]), t.text(check["ColumnBName"])
    rows = pa.table({"a": a, "b": b, "i": pa.array(range(t.n), pa.int64())}).filter(pc.and_(cond, pc.is_valid(a)))
    if rows.num_rows == 0:
        return pc.invert(_true(t.n))
    counts = rows.group_by("a").aggregate([("b", "count_distinct")])
    bad = counts.filter(pc.not_equal(counts.column("b_count_distinct"), int(check["ExpectedCount"])))
    return _fill(pc.is_in(a, value_set=bad.column("a")), False)


def _example(t: _Table, columns: Iterable[str], violations: pa.Array) -> str | None:
    idx = pc.indices_nonzero(violations)
    if len(idx) == 0:
        return None
    i = idx[0].as_py()
    parts = []
    for c in columns:
        v = t.text(c)[i].as_py() if t.has(c) else None
        parts.append(f"{c}={v!r}")
    return f"row {i}: " + ", ".join(parts)


def _children(check: Any) -> list[str]:
    if isinstance(check, dict):
        if check.get("CheckFunction") == "CheckModelRule":
            return [str(check["ModelRuleId"])]
        return [c for v in check.values() for c in _children(v)]
    if isinstance(check, list):
        return [c for v in check for c in _children(v)]
    return []


def _inherited(model: dict[str, Any]) -> dict[str, tuple[list[Any], set[str]]]:
    """Rule id -> (conditions of its composite ancestors, their applicability criteria).

    A composite's condition and criteria hold for every rule it is made of, e.g. the
    CommitmentDiscountQuantity nullability rules apply only to Usage/Purchase rows with a
    commitment discount.
    """
    rules = model["ModelRules"]
    parents: dict[str, list[str]] = {}
    for rid, rule in rules.items():
        for child in _children(rule["ValidationCriteria"].get("Requirement")):
            parents.setdefault(child, []).append(rid)
    out: dict[str, tuple[list[Any], set[str]]] = {}

    def visit(rid: str, seen: frozenset[str]) -> tuple[list[Any], set[str]]:
        if rid in out:
            return out[rid]
        conds: list[Any] = []
        crit: set[str] = set()
        for parent in parents.get(rid, []):
            if parent in seen or parent not in rules:
                continue
            p_conds, p_crit = visit(parent, seen | {parent})
            own = {**rules[parent]["ValidationCriteria"], **ERRATA.get(parent, {})}.get("Condition") or {}
            for c in [*p_conds, *([own] if own else [])]:
                if c not in conds:
                    conds.append(c)
            crit |= p_crit | set(rules[parent].get("ApplicabilityCriteria") or [])
        out[rid] = (conds, crit)
        return out[rid]

    for rid in rules:
        visit(rid, frozenset({rid}))
    return out


def _selected(rule: dict[str, Any], criteria: Collection[str] | str | None, inherited: set[str]) -> bool:
    needed = set(rule.get("ApplicabilityCriteria") or []) | inherited
    if not needed:
        return True
    if criteria is None:  # default: assume the provider supports what its columns show
        return rule.get("Function") != "Presence"
    if criteria == ALL:
        return True
    return all(c in criteria for c in needed)


def validate_table(
    table: pa.Table,
    *,
    criteria: Collection[str] | str | None = None,
    model: dict[str, Any] | None = None,
) -> ValidationReport:
    """Check ``table`` against the FOCUS 1.2 requirements model.

    ``criteria`` selects rules that depend on what the provider supports: None (default) runs
    them all except presence rules; ``"ALL"`` runs every one (as the official validator's
    ``--applicability-criteria ALL``); a collection runs those whose criteria are all in it.
    Never raises on bad data: every problem is a finding.
    """
    model = model or load_model()
    inherited = _inherited(model)
    t = _Table(table)
    findings: list[Finding] = []
    checked: list[str] = []
    skipped: dict[str, str] = {}
    for rule_id in sorted(model["ModelRules"]):
        rule = model["ModelRules"][rule_id]
        crit = dict(rule["ValidationCriteria"])
        crit.update(ERRATA.get(rule_id, {}))
        keyword = crit.get("Keyword", "MUST")
        requirement, condition = crit.get("Requirement") or {}, crit.get("Condition") or {}
        conditions, crits = inherited.get(rule_id, ([], set()))
        conditions = [*conditions, condition] if condition else list(conditions)
        reason = _skip_reason(rule_id, rule, keyword, requirement, criteria, crits)
        if reason is None and rule.get("Function") != "Presence":
            absent = sorted(c for c in _columns_of(requirement) if not t.has(c))
            if absent:
                reason = f"column {', '.join(absent)} absent"
        if reason is not None:
            skipped[rule_id] = reason
            continue
        severity: Severity = "error" if keyword in _ERROR_KEYWORDS else "warning"
        proto = Finding(
            rule_id,
            str(rule.get("Function", "")),
            str(rule.get("Reference", "")),
            keyword,
            severity,
            None,
            None,
            str(crit.get("MustSatisfy", "")),
        )

        checked.append(rule_id)
        if requirement.get("CheckFunction") == "ColumnPresent":
            if not t.has(requirement["ColumnName"]):
                findings.append(replace(proto, example=f"column {requirement['ColumnName']} is missing"))
            continue
        try:
            cond = _true(t.n)
            for c in conditions:
                cond = pc.and_(cond, _row_mask(t, c))
            if requirement.get("CheckFunction") == "CheckDistinctCount":
                violations = _distinct_count_violations(t, requirement, cond)
            else:
                violations = pc.and_(cond, pc.invert(_row_mask(t, requirement, requirement=True)))
        except _Unsupported as exc:
            checked.pop()
            skipped[rule_id] = str(exc)
            continue
        except _DatasetFailure as exc:
            findings.append(replace(proto, example=exc.example))
            continue
        failing = pc.sum(pc.cast(violations, pa.int64())).as_py() or 0
        if failing:
            cols = sorted(_columns_of(requirement) | _columns_of(conditions))
            findings.append(replace(proto, rows_failing=failing, example=_example(t, cols, violations)))
    return ValidationReport(rows=t.n, findings=tuple(findings), checked=tuple(checked), skipped=skipped)


def _skip_reason(
    rule_id: str,
    rule: dict[str, Any],
    keyword: str,
    requirement: dict[str, Any],
    criteria: Collection[str] | str | None,
    inherited: set[str],
) -> str | None:
    if rule.get("Status", "Active") != "Active":
        return f"status {rule.get('Status')}"
    if rule.get("Type") == "Dynamic":
        return "dynamic: needs knowledge outside the data"
    if rule_id in NOT_FROM_DATA:
        return NOT_FROM_DATA[rule_id]
    if keyword not in _ERROR_KEYWORDS | _WARNING_KEYWORDS:
        return f"{keyword}: optional"
    if not requirement:
        return "no executable requirement"
    if _is_composite(requirement):
        return "composite: its parts are checked"
    if requirement.get("CheckFunction") == "CheckDecimalValue":
        return "CheckDecimalValue: not evaluated (the official validator skips it too)"
    if not _selected(rule, criteria, inherited):
        return f"applicability: {', '.join(sorted(set(rule.get('ApplicabilityCriteria') or []) | inherited))}"
    return None


@dataclass(frozen=True, slots=True)
class OfficialResult:
    """One rule's outcome in the official validator's JUnit report."""

    rule_id: str
    check: str  # Composite, Type, Format, Nullability, Validation, Presence
    status: Literal["passed", "failed", "skipped", "errored"]
    message: str = ""
    violations: int | None = None
    samples: str = ""


def parse_junit(xml_text: str) -> dict[str, OfficialResult]:
    """Rule id -> result from ``focus-validator --output-type unittest`` XML (names ``RuleId :: Check``)."""
    import xml.etree.ElementTree as ET

    out: dict[str, OfficialResult] = {}
    for case in ET.fromstring(xml_text).iter("testcase"):
        name = case.get("name", "")
        rule_id, _, check = name.partition(" :: ")
        status: Literal["passed", "failed", "skipped", "errored"] = "passed"
        message = ""
        for tag, st in (("failure", "failed"), ("error", "errored"), ("skipped", "skipped")):
            el = case.find(tag)
            if el is not None:
                status = st  # type: ignore[assignment]
                message = el.get("message", "")
                break
        out[rule_id.strip()] = OfficialResult(rule_id.strip(), check.strip(), status, message)
    return out
