"""Pull-request text for a Terraform change: title, Markdown body, commit message, branch, labels.

Templates are Jinja2 files in the ``cloudops/terraform_templates`` package data
(``pr_title.txt.j2``, ``pr_body.md.j2``, ``commit_message.txt.j2``). The body says what
changes (a unified diff block), the monthly and yearly savings (Decimal, rounded
half-even to cents, with the currency), the confidence, the evidence (the analytics
query and a table of its rows, capped), the risk (restart/replacement and the
recommender's note), rollout and rollback steps, and ends with a hidden marker
``<!-- cloudops:fingerprint=<fingerprint> -->`` at the top so a sink can find the pull
request again (:func:`find_fingerprint`). Branch: ``cloudops/<kind>/<fingerprint>``.

Text that comes from bills (evidence values, titles, notes) is escaped for Markdown
table cells and neutralised for HTML and ``@mentions``; code spans and fences are
sized so their content cannot close them.

Contract: pure; deterministic for the same inputs (no clock is read).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from cloudops.schemas.recommendations import Recommendation

__all__ = [
    "EditNote",
    "PullRequestText",
    "branch_name",
    "find_fingerprint",
    "fingerprint_marker",
    "format_money",
    "render_pull_request",
]

_MARKER = re.compile(r"<!--\s*cloudops:fingerprint=([0-9a-f]+)\s*-->")
_MAX_CELL = 120


@dataclass(frozen=True, slots=True)
class EditNote:
    """One edit for the PR text: ``description`` (``aws_ebs_volume.data: type "gp2" -> "gp3"``) and how it applies."""

    description: str
    explanation: str = ""


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


def _code(value: object) -> str:
    text = " ".join(str(value).split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}".replace("|", "\\|")


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
    env.filters["fence"] = _fence
    return env


_RISK_LABEL = {
    "none": "none (in-place update)",
    "restart": "restart",
    "replacement": "replacement (destroy and create)",
}
_RISK_TEXT = {
    "none": "Terraform updates the resource in place; it keeps running.",
    "restart": "Applying this change restarts the resource: Terraform updates it in place, but it stops briefly.",
    "replacement": "Applying this change destroys the resource and creates a new one.",
}


def _steps(rec: Recommendation, address: str, old_values: Sequence[str]) -> tuple[list[str], list[str]]:
    plan = f"Run `terraform plan` and check that it shows only `{address}` changing" + (
        ", as a replacement." if rec.risk == "replacement" else ", updated in place."
    )
    rollout = ["Review the diff and the evidence below.", plan]
    if rec.risk == "restart":
        rollout.append("Schedule a maintenance window: the resource restarts while the change is applied.")
    elif rec.risk == "replacement":
        rollout.append("Take a backup or snapshot of any data on the resource before applying.")
    rollout += [
        "Merge this pull request and run `terraform apply`.",
        "Watch the resource over the next days; cloudops re-checks the bill and closes the recommendation.",
    ]
    previous = ", ".join(f"`{v}`" for v in old_values) or "the previous values"
    rollback = [f"Revert this pull request (or its merge commit) to restore {previous}.", "Run `terraform apply`."]
    if rec.risk == "replacement":
        rollback.append("Data on the replaced resource does not come back with a revert: restore it from the backup.")
    elif rec.risk == "restart":
        rollback.append("The rollback restarts the resource again.")
    return rollout, rollback


def _evidence(rec: Recommendation, max_rows: int, max_columns: int) -> dict[str, Any]:
    columns: list[str] = []
    for row in rec.evidence.rows:
        columns.extend(k for k in row if k not in columns)
    shown_cols = columns[:max_columns]
    rows = [[row.get(c, "") for c in shown_cols] for row in rec.evidence.rows[:max_rows]]
    return {
        "columns": shown_cols,
        "hidden_columns": columns[max_columns:],
        "rows": rows,
        "shown": len(rows),
        "total": len(rec.evidence.rows),
    }


def _pretty_query(query: str) -> str:
    try:
        return json.dumps(json.loads(query), indent=2, sort_keys=True, ensure_ascii=False)
    except ValueError:
        return query


def render_pull_request(
    rec: Recommendation,
    *,
    address: str,
    diff: str,
    edits: Sequence[EditNote],
    checks: Sequence[str] = (),
    max_evidence_rows: int = 20,
    max_evidence_columns: int = 12,
) -> PullRequestText:
    """Title, body, commit message, branch and labels for ``rec`` changed at ``address`` by ``diff``."""
    monthly, yearly = format_money(rec.monthly_savings), format_money(rec.yearly_savings)
    title_text = " ".join(rec.title.split())
    old_values = [f"{c.attribute} = {c.current}" for c in rec.changes if c.current is not None]
    rollout, rollback = _steps(rec, address, old_values)
    current_rows = [
        {
            "attribute": c.attribute,
            "current": _code(c.current) if c.current is not None else "unset",
            "proposed": _code(c.proposed),
        }
        for c in rec.changes
    ]
    context: dict[str, Any] = {
        "rec": rec,
        "title_text": title_text,
        "address": address,
        "diff": diff,
        "edits": list(edits),
        "monthly": monthly,
        "yearly": yearly,
        "currency": rec.currency,
        "risk_label": _RISK_LABEL[rec.risk],
        "risk_text": _RISK_TEXT[rec.risk],
        "rollout": rollout,
        "rollback": rollback,
        "query": _pretty_query(rec.evidence.query),
        "evidence": _evidence(rec, max_evidence_rows, max_evidence_columns),
        "current_rows": current_rows,
        "checks": list(checks),
        "fingerprint": rec.fingerprint,
        "marker": fingerprint_marker(rec.fingerprint),
    }
    env = _environment()
    title = " ".join(env.get_template("pr_title.txt.j2").render(context).split())
    body = env.get_template("pr_body.md.j2").render(context)
    commit = env.get_template("commit_message.txt.j2").render(context)
    labels = tuple(dict.fromkeys(["cloudops", "finops", rec.kind]))
    return PullRequestText(title[:256], body, commit, branch_name(rec), labels)
