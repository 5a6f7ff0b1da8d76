"""Pull-request text for a Terraform change: title, Markdown body, commit message, branch, labels.

Templates are Jinja2 files in the ``cloudops/terraform_templates`` package data
(``pr_title.txt.j2``, ``pr_body.md.j2``, ``commit_message.txt.j2``). The body answers a
reviewer's questions in order:

* **how much**: a cost table per resource (list price x billed quantity = monthly cost,
  current and proposed, each price with its public source, as-of date and region, and
  whether that region is the resource's), the saving as a share of the tenant's own
  EffectiveCost, monthly and yearly (Decimal, half-even to cents, with the currency);
* **how sure**: the confidence and the reasons behind it;
* **what changes**: the edits, comments removed from edited lines, the unified diff;
* **from which rows**: the resource's FOCUS aggregates (ConsumedQuantity, PricingQuantity,
  EffectiveCost, ListCost, BilledCost) and the exact query, as a ``cloudops query cost``
  command and as JSON;
* **what could break**: the risk class, what it is based on, facts from the Terraform
  configuration and state (e.g. ``apply_immediately``);
* **how to roll out and undo it**: rollout steps, a rollback that says what it cannot
  restore (irreversible changes), whether ``terraform plan`` ran and why not, the checks run.

A hidden marker ``<!-- cloudops:fingerprint=<fingerprint> -->`` at the top lets a sink
find the pull request again (:func:`find_fingerprint`). Branch:
``cloudops/<kind>/<fingerprint>``. Labels: ``cloudops``, ``finops``, the kind,
``risk:<risk>``, ``confidence:<confidence>``.

Escaping: text that comes from bills (resource ids, evidence values, titles) is escaped for
Markdown and table cells and neutralised for HTML and ``@mentions``; text written by
cloudops (notes, reasons) keeps its `code spans`; code spans and fences are sized so their
content cannot close them. The body is valid CommonMark + GFM tables (tests render it).

Contract: pure; deterministic for the same inputs (no clock is read).
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from cloudops.schemas.recommendations import Recommendation
from cloudops.terraform._syntax import render_literal

__all__ = [
    "EditNote",
    "GroupItem",
    "PullRequestText",
    "branch_name",
    "find_fingerprint",
    "fingerprint_marker",
    "format_money",
    "group_fingerprint",
    "render_digest",
    "render_group",
    "render_pull_request",
]

_MARKER = re.compile(r"<!--\s*cloudops:fingerprint=([0-9a-f]+)\s*-->")
_MAX_CELL = 120


@dataclass(frozen=True, slots=True)
class EditNote:
    """One edit for the PR text: ``description`` (``aws_ebs_volume.data: type "gp2" -> "gp3"``) and how it applies.

    ``removed_comment``: the trailing comment taken off the edited line (it described the old value).
    """

    description: str
    explanation: str = ""
    removed_comment: str = ""


@dataclass(frozen=True, slots=True)
class PullRequestText:
    title: str
    body: str
    commit_message: str
    branch: str
    labels: tuple[str, ...]


def format_money(amount: Decimal) -> str:
    """``Decimal("1234.565")`` -> ``"1,234.56"`` (half-even to cents)."""
    return f"{amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,.2f}"


def fingerprint_marker(fingerprint: str) -> str:
    return f"<!-- cloudops:fingerprint={fingerprint} -->"


def find_fingerprint(body: str) -> str | None:
    """The fingerprint in a PR body written by :func:`render_pull_request`, or None."""
    m = _MARKER.search(body or "")
    return m.group(1) if m else None


def branch_name(rec: Recommendation) -> str:
    """``cloudops/<kind>/<fingerprint>``, the kind reduced to ``[a-z0-9_-]`` (valid in every git ref)."""
    kind = re.sub(r"[^a-z0-9_]+", "-", rec.kind.lower()).strip("-") or "change"
    return f"cloudops/{kind}/{rec.fingerprint}"


def _md(value: object) -> str:
    """Text safe in Markdown paragraphs and table cells: one line, no HTML, no table breaks, no mentions."""
    text = " ".join(str(value).split())
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("@", "&#64;")


def _cell(value: object) -> str:
    """:func:`_md`, shortened to a table cell's width."""
    text = " ".join(str(value).split())
    return _md(text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…")


def _code(value: object, *, table: bool = False) -> str:
    """A code span sized so its content cannot close it; ``table``: pipes escaped for a GFM table cell."""
    text = " ".join(str(value).split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    span = f"{ticks}{pad}{text}{pad}{ticks}"
    return span.replace("|", "\\|") if table else span


def _code_cell(value: object) -> str:
    return _code(value, table=True)


_SPAN = re.compile(r"(`+)(.+?)\1")


def _note(value: object, *, table: bool = False) -> str:
    """Text written by cloudops (notes, reasons): its `code spans` stay code spans, the rest is made safe.

    Outside code spans: no HTML, no mentions, backslashes escaped; inside: kept as they
    are (a code span shows its content literally). ``table``: pipes escaped everywhere.
    """
    text = " ".join(str(value).split())
    out: list[str] = []
    pos = 0
    for m in _SPAN.finditer(text):
        out.append(_plain_md(text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_plain_md(text[pos:]))
    joined = "".join(out)
    return joined.replace("|", "\\|") if table else joined


def _plain_md(text: str) -> str:
    text = text.replace("\\", "\\\\")
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("@", "&#64;")


def _fence(value: str, lang: str = "") -> str:
    longest = max((len(run) for run in re.findall(r"`{3,}", value)), default=0)
    ticks = "`" * max(3, longest + 1)
    body = value if value.endswith("\n") else value + "\n"
    return f"{ticks}{lang}\n{body}{ticks}"


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("cloudops", "terraform_templates"),
        autoescape=False,  # Markdown and plain text; values are escaped by the filters below
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = _md
    env.filters["cell"] = _cell
    env.filters["code"] = _code
    env.filters["code_cell"] = _code_cell
    env.filters["note"] = _note
    env.filters["note_cell"] = lambda v: _note(v, table=True)
    env.filters["fence"] = _fence
    return env


_RISK_LABEL = {
    "none": "none (in-place update)",
    "restart": "restart",
    "replacement": "replacement (destroy and create)",
    "data_loss": "high: deletes data for good",
}
_RISK_TEXT = {
    "none": "Terraform updates the resource in place; it keeps running.",
    "restart": "Applying this change restarts the resource: Terraform updates it in place, but it stops briefly.",
    "replacement": "Applying this change destroys the resource and creates a new one.",
    "data_loss": "Applying this change deletes data, and a rollback does not bring it back.",
}
_CONFIDENCE_TEXT = {
    "high": "the figures come straight from the bill and the change keeps today's capacity",
    "medium": "the figures come from the bill, with an assumption a reviewer should check (below)",
    "low": "an estimate, because the bill cannot show everything that matters here (below)",
}

# Evidence columns shown, in this order, when the rows have them (UsageRow.as_evidence names).
_EVIDENCE_COLUMNS = (
    "month",
    "usage_detail",
    "operation",
    "region_id",
    "pricing_category",
    "consumed_quantity",
    "consumed_unit",
    "pricing_quantity",
    "pricing_unit",
    "effective_cost",
    "list_cost",
    "billed_cost",
    "currency",
)
_EVIDENCE_TITLES = {
    "month": "Month",
    "usage_detail": "Usage detail",
    "operation": "Operation",
    "region_id": "Region",
    "pricing_category": "Pricing",
    "consumed_quantity": "ConsumedQuantity",
    "consumed_unit": "ConsumedUnit",
    "pricing_quantity": "PricingQuantity",
    "pricing_unit": "PricingUnit",
    "effective_cost": "EffectiveCost",
    "list_cost": "ListCost",
    "billed_cost": "BilledCost",
    "currency": "Currency",
}


def _hcl(value: str, kind: str) -> str:
    """The HCL literal of a value (quoted string, number or bool), falling back to a quoted string."""
    try:
        return render_literal(value, kind)  # type: ignore[arg-type]
    except ValueError:
        return json.dumps(value)


def _steps(rec: Recommendation, address: str) -> tuple[list[str], list[str]]:
    target = f"terraform plan -target={shlex.quote(address)}"
    plan = f"Run {_code(target)} and check that it shows only {_code(address)} changing" + (
        ", as a replacement." if rec.risk == "replacement" else ", updated in place."
    )
    rollout = ["Review the diff, the cost table and the evidence above.", plan]
    if rec.risk == "data_loss":
        rollout.append(
            "Decide whether the data that will be deleted is needed; if it may be, export it first "
            "(for CloudWatch Logs: `aws logs create-export-task` to an S3 bucket)."
        )
    if rec.risk == "restart":
        rollout.append("Schedule a maintenance window: the resource restarts while the change is applied.")
    elif rec.risk == "replacement":
        rollout.append("Take a backup or snapshot of any data on the resource before applying.")
    rollout += [
        "Merge this pull request and run `terraform apply`.",
        "Watch the resource over the next days; cloudops re-checks the bill and closes the recommendation.",
    ]
    restore = [f"{c.attribute} = {_hcl(c.current, c.value_kind)}" for c in rec.changes if c.current is not None]
    remove = [c.attribute for c in rec.changes if c.current is None]
    undo = []
    if restore:
        undo.append("restore " + ", ".join(_code(x) for x in restore))
    if remove:
        undo.append("remove " + ", ".join(_code(x) for x in remove))
    rollback = [f"Revert this pull request (or its merge commit) to {' and '.join(undo) or 'undo the edit'}."]
    rollback.append("Run `terraform apply`.")
    if rec.rollback_note:
        rollback.append(_note(rec.rollback_note))
    elif rec.risk == "replacement":
        rollback.append("Data on the replaced resource does not come back with a revert: restore it from the backup.")
    elif rec.risk == "restart":
        rollback.append("The rollback restarts the resource again.")
    return rollout, rollback


def _evidence(rec: Recommendation, max_rows: int, max_columns: int) -> dict[str, Any]:
    present: list[str] = []
    for row in rec.evidence.rows:
        present.extend(k for k in row if k not in present)
    preferred = [c for c in _EVIDENCE_COLUMNS if c in present]
    if preferred:
        # UsageRow evidence: the money and quantity columns, without columns empty in every row.
        columns = [c for c in preferred if any(row.get(c) for row in rec.evidence.rows)]
        hidden = [c for c in present if c not in columns]
    else:
        columns, hidden = present[:max_columns], present[max_columns:]
    rows = [[row.get(c, "") for c in columns] for row in rec.evidence.rows[:max_rows]]
    identity = {
        k: rec.evidence.rows[0].get(k, "")
        for k in ("resource_id", "resource_name", "billing_account_id", "sub_account_id", "service_name")
        if rec.evidence.rows and rec.evidence.rows[0].get(k)
    }
    return {
        "columns": [_EVIDENCE_TITLES.get(c, c) for c in columns],
        "hidden_columns": hidden if not preferred else [],
        "rows": rows,
        "shown": len(rows),
        "total": len(rec.evidence.rows),
        "identity": identity,
    }


def _num(value: Decimal) -> str:
    """A quantity or unit price as plain text with thousands separators (no exponent, no trailing zeros)."""
    text = format(value.normalize(), "f") if value else "0"
    whole, _, frac = text.partition(".")
    return f"{int(whole):,}" + (f".{frac}" if frac else "")


_PER = {"Hours": "hour", "Hrs": "hour", "GB-Months": "GB-month", "disk-months": "disk-month"}
"""Unit of a quantity -> the unit a price is quoted per (``0.10 USD/hour`` for 720 Hours)."""


def _whitespace_only(diff: str) -> int:
    """How many changed lines of ``diff`` differ from a removed line only in blanks (``terraform fmt`` alignment)."""
    removed = [" ".join(ln[1:].split()) for ln in diff.splitlines() if ln.startswith("-") and not ln.startswith("---")]
    added = [" ".join(ln[1:].split()) for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    count = 0
    for line in added:
        if line in removed:
            removed.remove(line)
            count += 1
    return count


def _cost_table(rec: Recommendation) -> dict[str, Any]:
    lines = []
    for p in rec.prices:
        region = p.price_region + (
            " (matches)" if p.region_matches else f" (resource: {p.resource_region})" if p.resource_region else ""
        )
        lines.append(
            {
                "side": p.side,
                "item": p.item,
                "unit_price": f"{format(p.unit_price, 'f')} {p.currency}/{_PER.get(p.unit, p.unit)}",
                "quantity": f"{_num(p.quantity)} {p.unit}",
                "cost": f"{format_money(p.monthly_cost)} {p.currency}",
                "source": p.source,
                "as_of": p.as_of,
                "region": region,
            }
        )
    current = sum((p.monthly_cost for p in rec.prices if p.side == "current"), Decimal(0))
    proposed = sum((p.monthly_cost for p in rec.prices if p.side == "proposed"), Decimal(0))
    currency = rec.prices[0].currency if rec.prices else rec.currency
    formula = ""
    if rec.prices and current > 0 and rec.basis_cost is not None:
        formula = (
            f"{format_money(rec.basis_cost)} {rec.currency} (your EffectiveCost of this usage in {rec.period}) "
            f"x (1 - {format_money(proposed)} / {format_money(current)}) = "
            f"{format_money(rec.monthly_savings)} {rec.currency} a month"
        )
    mismatch = sorted(
        {(p.price_region, p.resource_region) for p in rec.prices if p.resource_region and not p.region_matches}
    )
    return {
        "lines": lines,
        "current": f"{format_money(current)} {currency}",
        "proposed": f"{format_money(proposed)} {currency}",
        "difference": f"{format_money(current - proposed)} {currency}",
        "formula": formula,
        "mismatch": [f"{a} prices, resource in {b}" for a, b in mismatch],
    }


def _pretty_query(query: str) -> str:
    try:
        return json.dumps(json.loads(query), indent=2, sort_keys=True, ensure_ascii=False)
    except ValueError:
        return query


def _labels(rec: Recommendation) -> tuple[str, ...]:
    return tuple(dict.fromkeys(["cloudops", "finops", rec.kind, f"risk:{rec.risk}", f"confidence:{rec.confidence}"]))


def render_pull_request(
    rec: Recommendation,
    *,
    address: str,
    diff: str,
    edits: Sequence[EditNote],
    checks: Sequence[str] = (),
    facts: Sequence[str] = (),
    plan_note: str = "",
    reviewers: Sequence[str] = (),
    max_evidence_rows: int = 20,
    max_evidence_columns: int = 12,
) -> PullRequestText:
    """Title, body, commit message, branch and labels for ``rec`` changed at ``address`` by ``diff``.

    ``facts`` are what the Terraform configuration and state say that bears on the risk
    (e.g. ``apply_immediately``); ``plan_note`` says whether ``terraform plan`` ran and
    why not; ``reviewers`` (from CODEOWNERS) are named in the body.
    """
    monthly, yearly = format_money(rec.monthly_savings), format_money(rec.yearly_savings)
    title_text = " ".join(rec.title.split())
    rollout, rollback = _steps(rec, address)
    current_rows = [
        {
            "attribute": c.attribute,
            "current": _code(_hcl(c.current, c.value_kind), table=True) if c.current is not None else "unset",
            "proposed": _code(_hcl(c.proposed, c.value_kind), table=True),
        }
        for c in rec.changes
    ]
    context: dict[str, Any] = {
        "rec": rec,
        "title_text": title_text,
        "address": address,
        "diff": diff,
        "realigned": _whitespace_only(diff),
        "edits": list(edits),
        "monthly": monthly,
        "yearly": yearly,
        "currency": rec.currency,
        "risk_label": _RISK_LABEL[rec.risk],
        "risk_text": _RISK_TEXT[rec.risk],
        "confidence_text": _CONFIDENCE_TEXT[rec.confidence],
        "rollout": rollout,
        "rollback": rollback,
        "query": _pretty_query(rec.evidence.query),
        "command": rec.evidence.command,
        "evidence": _evidence(rec, max_evidence_rows, max_evidence_columns),
        "cost": _cost_table(rec),
        "current_rows": current_rows,
        "checks": list(checks),
        "facts": list(facts),
        "plan_note": plan_note,
        "reviewers": list(reviewers),
        "region": next((p.resource_region for p in rec.prices if p.resource_region), ""),
        "fingerprint": rec.fingerprint,
        "marker": fingerprint_marker(rec.fingerprint),
        "section": False,
    }
    env = _environment()
    title = " ".join(env.get_template("pr_title.txt.j2").render(context).split())
    body = env.get_template("pr_body.md.j2").render(context)
    commit = env.get_template("commit_message.txt.j2").render(context)
    return PullRequestText(title[:256], body, commit, branch_name(rec), _labels(rec))


_REASON_TITLES = {
    "report_only": "report-only: the fix is not an argument edit",
    "set_from_variable": "set from a variable",
    "set_from_expression": "set by an expression",
    "wider_effect": "the edit would change more than this resource",
    "ignored_by_lifecycle": "lifecycle ignore_changes lists it",
    "multi_state": "the configuration serves several states",
    "in_module_not_addressable": "inside a module",
    "not_in_state": "not in the Terraform state",
    "not_in_config": "not in the configuration",
    "shared_block": "count/for_each block",
    "ambiguous": "several resources match",
    "drifted": "configuration and bill disagree",
    "unsupported": "not supported",
    "syntax_error": "syntax error",
    "check_failed": "the change fails Terraform's checks",
    "bad_state": "unreadable state",
    "already_applied": "already in the configuration",
}


def render_digest(tenant: str, items: Sequence[tuple[Recommendation, str, str, str | None]]) -> tuple[str, str]:
    """Title and Markdown body of the tenant's digest issue: savings that need a human, largest first.

    ``items`` are (recommendation, reason code, reason, ``file:line`` to change or None).
    Pure and deterministic: the same items in any order give the same text.
    """
    ordered = sorted(items, key=lambda i: (-i[0].monthly_savings, i[0].kind, i[0].resource_id))
    total = sum((i[0].monthly_savings for i in ordered), Decimal(0))
    currencies = sorted({i[0].currency for i in ordered})
    title = f"cloudops: {len(ordered)} saving{'' if len(ordered) == 1 else 's'} that need a human ({_md(tenant)})"
    lines = [
        f"## Savings cloudops cannot turn into pull requests ({_md(tenant)})",
        "",
        f"{len(ordered)} recommendation{'' if len(ordered) == 1 else 's'}, "
        f"{format_money(total)} {'/'.join(currencies) or 'USD'} a month in total. Each names why no pull request "
        "was opened and, where known, the file and line a human would change. This issue is updated in place.",
        "",
        "| Savings / month | Resource | Recommendation | Why not | Change at |",
        "|---:|---|---|---|---|",
    ]
    for rec, code, reason, location in ordered:
        why = f"**{_REASON_TITLES.get(code, code)}**: {_md(reason)}"
        lines.append(
            f"| {format_money(rec.monthly_savings)} {_cell(rec.currency)} | {_code(rec.resource_id, table=True)} "
            f"| {_cell(rec.title)} ({_code(rec.kind, table=True)}, risk {rec.risk}, confidence {rec.confidence}) "
            f"| {why} | {_code(location, table=True) if location else 'n/a'} |"
        )
    if not ordered:
        lines.append("| 0.00 | | Nothing needs a human right now. | | |")
    return title, "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class GroupItem:
    """One recommendation of a grouped pull request: where it applies and the facts behind its risk."""

    rec: Recommendation
    address: str
    facts: tuple[str, ...] = ()
    edits: tuple[EditNote, ...] = ()


_RISK_ORDER = ("none", "restart", "replacement", "data_loss")
_CONFIDENCE_ORDER = ("high", "medium", "low")


def group_fingerprint(tenant: str, kind: str, files: Sequence[str]) -> str:
    """Identity of a grouped pull request: same tenant, kind and files -> same id (and branch)."""
    raw = "\x1f".join([tenant, kind, *sorted(files)]).encode()
    return hashlib.sha256(raw).hexdigest()[:24]


def render_group(
    items: Sequence[GroupItem],
    *,
    files: Sequence[str],
    diff: str,
    edits: Sequence[EditNote],
    checks: Sequence[str] = (),
    plan_note: str = "",
    reviewers: Sequence[str] = (),
) -> PullRequestText:
    """One pull request for several recommendations of one kind that edit the same files.

    The body has a summary table, the combined diff and checks, then each recommendation's
    own sections (cost table, confidence, evidence, risk, rollout, rollback) as in
    :func:`render_pull_request`. Branch ``cloudops/<kind>/group-<group fingerprint>``;
    labels add ``grouped`` and carry the highest risk and the lowest confidence.
    Raises ValueError for an empty group or mixed kinds/tenants/currencies.
    """
    if not items:
        raise ValueError("a group needs at least one recommendation")
    recs = [i.rec for i in items]
    kind, tenant = recs[0].kind, recs[0].tenant
    if any(r.kind != kind or r.tenant != tenant or r.currency != recs[0].currency for r in recs):
        raise ValueError("a group has one tenant, one kind and one currency")
    ordered = sorted(items, key=lambda i: (-i.rec.monthly_savings, i.rec.resource_id))
    env = _environment()
    sections = []
    for item in ordered:
        rec = item.rec
        rollout, rollback = _steps(rec, item.address)
        sections.append(
            env.get_template("pr_body.md.j2")
            .render(
                {
                    "rec": rec,
                    "title_text": " ".join(rec.title.split()),
                    "address": item.address,
                    "diff": "",
                    "realigned": 0,
                    "edits": list(item.edits),
                    "monthly": format_money(rec.monthly_savings),
                    "yearly": format_money(rec.yearly_savings),
                    "currency": rec.currency,
                    "risk_label": _RISK_LABEL[rec.risk],
                    "risk_text": _RISK_TEXT[rec.risk],
                    "confidence_text": _CONFIDENCE_TEXT[rec.confidence],
                    "rollout": rollout,
                    "rollback": rollback,
                    "query": _pretty_query(rec.evidence.query),
                    "command": rec.evidence.command,
                    "evidence": _evidence(rec, 20, 12),
                    "cost": _cost_table(rec),
                    "current_rows": [
                        {
                            "attribute": c.attribute,
                            "current": _code(_hcl(c.current, c.value_kind), table=True)
                            if c.current is not None
                            else "unset",
                            "proposed": _code(_hcl(c.proposed, c.value_kind), table=True),
                        }
                        for c in rec.changes
                    ],
                    "checks": [],
                    "facts": list(item.facts),
                    "plan_note": "",
                    "reviewers": [],
                    "region": next((p.resource_region for p in rec.prices if p.resource_region), ""),
                    "fingerprint": rec.fingerprint,
                    "marker": "",
                    "section": True,
                }
            )
            .strip()
        )
    total = sum((r.monthly_savings for r in recs), Decimal(0))
    fingerprint = group_fingerprint(tenant, kind, files)
    currency = recs[0].currency
    title_text = f"{len(recs)} {kind} changes in {', '.join(sorted(files))}"
    context: dict[str, Any] = {
        "title_text": title_text,
        "count": len(recs),
        "kind": kind,
        "files": sorted(files),
        "items": [
            {
                "rec": i.rec,
                "address": i.address,
                "monthly": format_money(i.rec.monthly_savings),
                "risk_label": _RISK_LABEL[i.rec.risk],
                "section": sec,
            }
            for i, sec in zip(ordered, sections, strict=True)
        ],
        "monthly": format_money(total),
        "yearly": format_money(total * 12),
        "currency": currency,
        "reviewers": list(reviewers),
        "edits": list(edits),
        "realigned": _whitespace_only(diff),
        "diff": diff,
        "plan_note": plan_note,
        "checks": list(checks),
        "fingerprint": fingerprint,
        "marker": fingerprint_marker(fingerprint),
    }
    body = env.get_template("pr_group.md.j2").render(context)
    title = f"{title_text} (saves {format_money(total)} {currency}/month)"
    risk = max((r.risk for r in recs), key=_RISK_ORDER.index)
    confidence = max((r.confidence for r in recs), key=_CONFIDENCE_ORDER.index)
    slug = re.sub(r"[^a-z0-9_]+", "-", kind.lower()).strip("-") or "change"
    commit = (
        f"{title_text}\n\n"
        + "".join(f"- {r.title} (saves {format_money(r.monthly_savings)} {r.currency}/month)\n" for r in recs)
        + f"\nCloudops-Kind: {kind}\nCloudops-Fingerprint: {fingerprint}\n"
    )
    labels = tuple(dict.fromkeys(["cloudops", "finops", kind, f"risk:{risk}", f"confidence:{confidence}", "grouped"]))
    return PullRequestText(title[:256], body, commit, f"cloudops/{slug}/group-{fingerprint}", labels)
