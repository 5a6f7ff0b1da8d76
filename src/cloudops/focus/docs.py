"""``docs/mappings.md`` rendered from the conversion rules files, so the docs are the code.

:func:`render_mappings` is pure: rules in, Markdown out. ``scripts/render-mappings.py`` writes
the file and ``tests/unit/focus/test_docs.py`` checks it is up to date.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cloudops.focus.rules import Condition, Expr, FormatRules

__all__ = ["render_condition", "render_expr", "render_mappings", "render_rules"]

HEADER = """# FOCUS mappings

Generated from the conversion rules in `src/cloudops/focus/rules/*.yaml` by
`scripts/render-mappings.py`; do not edit by hand (the unit tests check it is current).
Expressions: `` `col` `` is a source column, `"x"` a constant, `null` no value; `a ?? b` takes
the first non-null; `cases` picks the first matching `when`; after ` · ` come modifiers:
`map {...}` translates values
(unmapped values kept unless a `default` is given); `lookup F.csv` maps through a packaged table.

## FOCUS versions and datasets

cloudops writes **FOCUS 1.3** Cost and Usage rows: the 1.2 columns plus ServiceProviderName,
HostProviderName, ContractApplied and the split cost allocation columns AllocatedMethodId,
AllocatedMethodDetails, AllocatedResourceId, AllocatedResourceName and AllocatedTags. Every
provider's rules fill ServiceProviderName and HostProviderName; ProviderName and PublisherName
(deprecated in 1.3) stay filled for FOCUS 1.2 readers. `cloudops convert --focus-version 1.2`
writes only the 1.2 columns. FOCUS files are read as the version their columns show: a file
with any 1.3 column is read by `focus-1.3`, older ones by `focus-1.0` .. `focus-1.2`.

Supporting datasets are detected by their own columns and loaded into their own table per
tenant (ClickHouse migration 0005), never into `focus`: the FOCUS 1.3 **Contract Commitment**
dataset (`contract_commitment`, joined to Cost and Usage through `ContractApplied`) and the
FOCUS 1.4 **Billing Period** (`billing_period`) and **Invoice Detail** (`invoice_detail`)
datasets, whose columns come from the specification's 1.4 drafts. No provider delivers these
datasets today; the generic `focus-1.3-contract-commitment`, `focus-1.4-billing-period` and
`focus-1.4-invoice-detail` rules read them from any data generator.

**No source column is dropped silently**: a column no rule reads (no expression, condition, tag
source, extension or explode list uses it) is kept in `x_Extensions` as `x_<name>` (nested
values as JSON text), and `cloudops convert` lists such columns per file.
"""


def _code(text: str) -> str:
    return f"`{text}`"


def _q(text: str) -> str:
    return '"' + text + '"'


def render_condition(cond: Condition) -> str:
    """``col in [a, b]``, ``col not in [...]``, ``col is null``."""
    col = _code(cond.column)
    if cond.in_ is not None:
        return f"{col} in [{', '.join(cond.in_)}]"
    if cond.not_in is not None:
        return f"{col} not in [{', '.join(cond.not_in)}]"
    if cond.matches is not None:
        return f"{col} matches /{cond.matches}/"
    if cond.same_as is not None:
        return f"{col} = {_code(cond.same_as)}"
    return f"{col} is {'null' if cond.is_null else 'not null'}"


def _source(e: Expr) -> str:
    if e.from_ is not None:
        return _code(e.from_) + (" (required)" if e.required else "")
    if e.const is not None:
        return _q(e.const)
    if e.none:
        return "null"
    if e.coalesce is not None:
        return " ?? ".join(_wrap(c) for c in e.coalesce)
    if e.cases is not None:
        parts = [f"{render_condition(c.when)} -> {_wrap(c.then)}" for c in e.cases]
        assert e.else_ is not None
        return "cases: " + "; ".join(parts) + f"; else {_wrap(e.else_)}"
    if e.add is not None:
        return " + ".join(_wrap(c) for c in e.add)
    if e.sub is not None:
        return f"{_wrap(e.sub[0])} - {_wrap(e.sub[1])}"
    if e.mul is not None:
        return f"{_wrap(e.mul[0])} × {_wrap(e.mul[1])}"
    if e.neg is not None:
        return f"-{_wrap(e.neg)}"
    if e.concat is not None:
        sep = f", sep {_q(e.sep)}" if e.sep else ""
        return f"concat({', '.join(render_expr(c) for c in e.concat)}{sep})"
    if e.json_of is not None:
        return f"JSON object of {_code(e.json_of)}"
    if e.map_get is not None:
        return f"{_code(e.map_get.column)}[{_q(e.map_get.key)}]"
    if e.sum_list is not None:
        return f"sum of {_code(e.sum_list.column)}[].{e.sum_list.field}"
    if e.month_start is not None:
        return f"month start of {_wrap(e.month_start)}"
    if e.month_end is not None:
        return f"month end of {_wrap(e.month_end)}"
    raise ValueError("expression without a source")  # FormatRules validation makes this unreachable


def _wrap(e: Expr) -> str:
    text = render_expr(e)
    simple = e.from_ is not None or e.const is not None or e.none
    return text if simple and " " not in text.replace(" (required)", "") else f"({text})"


def render_expr(e: Expr) -> str:
    """One expression in readable form, modifiers after the source."""
    out = _source(e)
    mods: list[str] = []
    if e.extract:
        mods.append(f"extract /{e.extract}/")
    if e.lower:
        mods.append("lower")
    if e.upper:
        mods.append("upper")
    if e.map is not None:
        mods.append("map {" + ", ".join(f"{k}: {v}" for k, v in e.map.items()) + "}")
    if e.lookup:
        mods.append(f"lookup {e.lookup}")
    if e.drop_unmapped:
        mods.append("unmapped -> null")
    if e.default is not None:
        mods.append(f"default {_q(e.default)}")
    if e.format is not None:
        formats = [e.format] if isinstance(e.format, str) else e.format
        mods.append("format " + " or ".join(_q(f) for f in formats))
    if e.decimal_comma:
        mods.append("decimal comma")
    if e.add_days is not None:
        mods.append(f"as datetime + {e.add_days} day{'s' if e.add_days != 1 else ''}")
    return out + (" · " + ", ".join(mods) if mods else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def render_rules(r: FormatRules) -> str:
    """The section of one rules file."""
    out = [f"## {r.title} (`{r.id}`)", ""]
    out.append(f"Provider `{r.provider}`, detection priority {r.priority}.")
    if r.dataset != "CostAndUsage":
        out[-1] += f" FOCUS dataset `{r.dataset}`: rows go to its own table, not `focus`."
    if r.description:
        out += ["", r.description.strip()]
    if r.source:
        out += ["", f"Source: {r.source.strip()}"]
    out += ["", "**Detection**: header has " + ", ".join(_code(c) for c in r.detect.all_of)]
    if r.detect.any_of:
        out[-1] += "; and at least one of " + ", ".join(_code(c) for c in r.detect.any_of)
    if r.detect.none_of:
        out[-1] += "; and none of " + ", ".join(_code(c) for c in r.detect.none_of)
    if r.null_values:
        out += ["", "**No value**: text " + ", ".join(_q(v) for v in r.null_values) + " in any column means null."]
    if r.json_maps:
        maps = ", ".join(_code(c) for c in r.json_maps)
        out += ["", f"**JSON maps** (JSON object text in CSV, maps in Parquet): {maps}"]
    if r.header_names:
        out += ["", f"**Header names**: a header matching /{r.header_names}/ is read as its first group."]
    if r.aliases:
        out += ["", "**Aliases** (matched without regard to case):", ""]
        out += _table(
            ["column", "also spelt"],
            [(_code(k), ", ".join(_code(s) for s in v)) for k, v in sorted(r.aliases.items())],
        )
    out += ["", "**Reconciliation**: cost " + render_expr(r.reconcile.cost) + " per currency "]
    out[-1] += render_expr(r.reconcile.currency) + f" = sum({_landed_money(r)})."
    out += ["", "| FOCUS column | source |", "|---|---|"]
    out += [f"| {name} | {_cell(render_expr(expr))} |" for name, expr in r.columns.items()]
    if r.x_provider is not None:
        out += ["", f"**x_Provider**: {render_expr(r.x_provider)}"]
    if r.tags is not None:
        out += ["", "**Tags** (JSON object):"]
        out += [f"- columns starting {_code(p)} -> key prefix {_q(k)}" for p, k in r.tags.prefixes.items()]
        for t in r.tags.maps:
            renames = ", ".join(f"{_q(a)} -> {_q(b)}" for a, b in t.rename_prefixes.items())
            out.append(f"- map column {_code(t.column)} -> key prefix {_q(t.prefix)}")
            out[-1] += f" (key prefixes renamed: {renames})" if renames else ""
    if r.extensions or r.extension_prefixes:
        out += ["", "**Extensions** (`x_Extensions` JSON object):", ""]
        out += _table(["key", "source"], [(k, _code(v)) for k, v in r.extensions.items()])
        if r.extension_prefixes:
            out += ["", "Also every column starting " + ", ".join(_code(p) for p in r.extension_prefixes) + "."]
    for ex in r.explode:
        out += ["", f"**Extra rows: {ex.name}** (one per element of {_code(ex.list)}; other columns as the base row):"]
        out += ["", "| FOCUS column | source |", "|---|---|"]
        out += [f"| {name} | {_cell(render_expr(expr))} |" for name, expr in ex.columns.items()]
    for d in r.derive:
        when = " and ".join(render_condition(c) for c in d.when)
        skip = f", unless {_cell(render_expr(d.skip_zero))} is 0" if d.skip_zero is not None else ""
        out += ["", f"**Derived rows: {d.name}** (one more row per source row where {when}{skip};"]
        out[-1] += " other columns as the base row):"
        out += ["", "| FOCUS column | source |", "|---|---|"]
        out += [f"| {name} | {_cell(render_expr(expr))} |" for name, expr in d.columns.items()]
    lookups = sorted({e.lookup for e in r.all_exprs() if e.lookup})
    if lookups:
        out += ["", "**Lookup tables**: " + ", ".join(f"`src/cloudops/focus/rules/{x}`" for x in lookups)]
    return "\n".join(out) + "\n"


def _landed_money(r: FormatRules) -> str:
    """The converted column the reconcile cost must equal (a supporting dataset's own money column)."""
    from cloudops.focus.datasets import DATASETS

    if r.dataset == "CostAndUsage":
        return "BilledCost"
    return DATASETS[r.dataset].cost or "nothing: rows only"


def render_mappings(rules: Iterable[FormatRules]) -> str:
    """The whole of docs/mappings.md: an index, then one section per rules file (by id)."""
    ordered = sorted(rules, key=lambda r: r.id)
    parts = [HEADER]
    parts += ["| rules id | provider | format | priority |", "|---|---|---|---|"]
    parts += [f"| [`{r.id}`](#{_anchor(r)}) | {r.provider} | {_cell(r.title)} | {r.priority} |" for r in ordered]
    text = "\n".join(parts) + "\n"
    for r in ordered:
        text += "\n" + render_rules(r)
    return text


def _anchor(r: FormatRules) -> str:
    heading = f"{r.title} ({r.id})".lower()
    return "".join(ch for ch in heading.replace(" ", "-") if ch.isalnum() or ch in "-_")
