"""Helpers shared by the recommenders: grouping, rounding, AWS usage types, record building.

Rounding: every computation runs on unrounded Decimals (28 significant digits); the one
number rounded is a recommendation's ``monthly_savings``, quantized to 0.01 with
ROUND_HALF_UP when the record is built. A saving that rounds to 0.00 or less yields no
recommendation.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

from cloudops.recommend.prices import PriceTier, Replacement
from cloudops.recommend.rows import RecommendContext, UsageRow, month_label
from cloudops.schemas.recommendations import AttributeChange, Confidence, Evidence, PriceLine, Recommendation, Risk

__all__ = [
    "CENT",
    "MAX_EVIDENCE_ROWS",
    "build",
    "cents",
    "group",
    "in_period",
    "is_committed",
    "money_text",
    "price_line",
    "region_of",
    "replacement_lines",
    "scoped_evidence",
    "usage_type",
]

CENT = Decimal("0.01")
MAX_EVIDENCE_ROWS = 50
"""Evidence keeps at most this many rows of a recommendation (largest EffectiveCost first)."""

K = TypeVar("K")
T = TypeVar("T")

# AWS usage types carry a region prefix outside us-east-1: "USW2-BoxUsage:m5.large", "EU-EBS:VolumeUsage.gp2".
_AWS_REGION_PREFIX = re.compile(r"^[A-Z]{2,4}[0-9]{0,2}-(?=[A-Za-z])")


def cents(value: Decimal) -> Decimal:
    """``value`` rounded to cents, half up (the only rounding step of a recommendation)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@functools.lru_cache(maxsize=4096)
def _strip_region(detail: str) -> str:
    return _AWS_REGION_PREFIX.sub("", detail, count=1)


def usage_type(row: UsageRow) -> str:
    """The row's usage detail without an AWS region prefix (``USW2-BoxUsage:m5.large`` -> ``BoxUsage:m5.large``)."""
    return _strip_region(row.usage_detail) if row.provider == "aws" else row.usage_detail


def in_period(rows: Iterable[UsageRow], ctx: RecommendContext) -> list[UsageRow]:
    """Rows of the run's billing month (others are history)."""
    month = ctx.month
    return [r for r in rows if r.month == month]


def is_committed(row: UsageRow) -> bool:
    """Usage covered by a reservation or savings plan (changing the resource would strand the commitment)."""
    return row.pricing_category == "Committed" or bool(row.commitment_discount_id)


def group(items: Iterable[T], key: Callable[[T], K]) -> dict[K, list[T]]:
    """Items grouped by ``key``, groups and items in input order."""
    out: dict[K, list[T]] = defaultdict(list)
    for item in items:
        out[key(item)].append(item)
    return dict(out)


def region_of(rows: Sequence[UsageRow]) -> str:
    """The resource's region (FOCUS RegionId) as the rows show it: the most frequent non-empty one, else ''."""
    counts = Counter(r.region_id for r in rows if r.region_id)
    return counts.most_common(1)[0][0] if counts else ""


def price_line(
    side: str, item: str, tier: PriceTier, quantity: Decimal, rows: Sequence[UsageRow], *, unit: str | None = None
) -> PriceLine:
    """One cost-table line: ``tier.price`` x ``quantity`` with the price's source, date and region."""
    return PriceLine(
        side=side,  # type: ignore[arg-type]
        item=item,
        unit_price=tier.price,
        quantity=quantity,
        unit=unit or tier.unit,
        monthly_cost=tier.price * quantity,
        currency="USD",
        source=tier.source,
        as_of=tier.as_of,
        price_region=tier.region,
        resource_region=region_of(rows),
    )


def replacement_lines(
    swap: Replacement, quantity: Decimal, unit: str, rows: Sequence[UsageRow], *, what: str = ""
) -> tuple[PriceLine, PriceLine]:
    """The current and proposed lines of a like-for-like swap at the billed ``quantity``."""
    currency = swap.unit.split("/", 1)[0] if "/" in swap.unit else "USD"
    out = []
    for side, name, price in (
        ("current", swap.current, swap.current_price),
        ("proposed", swap.proposed, swap.proposed_price),
    ):
        out.append(
            PriceLine(
                side=side,  # type: ignore[arg-type]
                item=f"{name}{(' ' + what) if what else ''}",
                unit_price=price,
                quantity=quantity,
                unit=unit,
                monthly_cost=price * quantity,
                currency=currency,
                source=swap.source,
                as_of=swap.as_of,
                price_region=swap.region,
                resource_region=region_of(rows),
            )
        )
    return out[0], out[1]


def scoped_evidence(ctx: RecommendContext, rows: Sequence[UsageRow], resource_id: str) -> Evidence:
    """The evidence of one resource: its rows, and the run's query narrowed to that resource and those months.

    ``ctx.query`` is the recommender input's normalised query (JSON of the analytics
    ``Query``); the narrowed query adds a ``ResourceId`` filter and keeps the months of
    ``rows`` (earliest to the end of the period), so running it returns exactly these
    aggregates. ``command`` is the same query as a ``cloudops query cost`` command line.
    When the run's query is not JSON, or the rows are not all of ``resource_id`` (an
    account-level recommendation), the run's query is kept as it is and no command is given.
    """
    evidence_rows = sorted(rows, key=lambda r: (r.month, -r.effective_cost, r.usage_detail))[:MAX_EVIDENCE_ROWS]
    try:
        doc = json.loads(ctx.query)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not resource_id or any(r.resource_id != resource_id for r in rows):
        # Not one FOCUS resource (e.g. an account's commitment coverage): the run's query as it is.
        return Evidence(query=ctx.query, rows=tuple(r.as_evidence() for r in evidence_rows))
    filters = [f for f in doc.get("filters") or [] if isinstance(f, dict) and f.get("dimension") != "ResourceId"]
    filters.append({"dimension": "ResourceId", "op": "in", "values": [resource_id]})
    doc["filters"] = filters
    first = min((r.month for r in rows), default=ctx.month)
    doc["start"] = f"{month_label(first)}-01T00:00:00Z"
    end = (
        ctx.month.replace(year=ctx.month.year + 1, month=1)
        if ctx.month.month == 12
        else ctx.month.replace(month=ctx.month.month + 1)
    )
    doc["end"] = f"{month_label(end)}-01T00:00:00Z"
    parts = ["cloudops", "query", "cost", "--tenant", ctx.tenant]
    for f in filters:
        flag = "--filter" if f.get("op", "in") == "in" else "--exclude"
        parts += [flag, f"{f['dimension']}={','.join(str(v) for v in f.get('values', []))}"]
    for dim in doc.get("group_by") or []:
        parts += ["--by", str(dim)]
    for metric in doc.get("metrics") or []:
        parts += ["--metric", str(metric)]
    parts += ["--from", doc["start"][:10], "--to", doc["end"][:10]]
    parts += ["--granularity", str(doc.get("granularity") or "month"), "--format", "json"]
    command = " ".join(shlex.quote(p) for p in parts)
    return Evidence(
        query=json.dumps(doc, sort_keys=True),
        rows=tuple(r.as_evidence() for r in evidence_rows),
        command=command,
    )


def build(
    ctx: RecommendContext,
    *,
    kind: str,
    rows: Sequence[UsageRow],
    savings: Decimal,
    title: str,
    current: dict[str, str],
    proposed: dict[str, str],
    confidence: Confidence,
    risk: Risk,
    risk_note: str,
    resource_type: str | None = None,
    changes: Sequence[AttributeChange] = (),
    resource_id: str | None = None,
    prices: Sequence[PriceLine] = (),
    confidence_reasons: Sequence[str] = (),
    risk_basis: Sequence[str] = (),
    irreversible: bool = False,
    rollback_note: str = "",
    basis_cost: Decimal | None = None,
) -> Recommendation | None:
    """A Recommendation for ``rows`` (one resource), or None when the saving rounds to 0.00 or less.

    Provider, currency and (unless given) resource id come from the first row; the
    evidence is :func:`scoped_evidence` (the resource's rows, at most
    :data:`MAX_EVIDENCE_ROWS`, and the query narrowed to them). When a price line's table
    region differs from the resource's region, a confidence reason says so.
    """
    money = cents(savings)
    if money <= 0 or not rows:
        return None
    first = rows[0]
    rid = resource_id if resource_id is not None else first.resource_id
    reasons = list(confidence_reasons)
    mismatched = sorted(
        {(p.price_region, p.resource_region) for p in prices if p.resource_region and not p.region_matches}
    )
    for price_region, resource_region in mismatched:
        reasons.append(
            f"The list prices are {price_region} prices and the resource is in {resource_region}: only their ratio "
            "is applied to your own EffectiveCost (a region's prices usually move together, not always exactly)."
        )
    if prices and not any(p.resource_region for p in prices):
        reasons.append("The bill shows no region for the resource: the price table's region is assumed.")
    return Recommendation(
        tenant=ctx.tenant,
        kind=kind,
        provider=first.provider,
        resource_id=rid,
        resource_type=resource_type,
        title=title,
        current=current,
        proposed=proposed,
        changes=tuple(changes),
        monthly_savings=money,
        currency=first.currency,
        confidence=confidence,
        risk=risk,
        risk_note=risk_note,
        confidence_reasons=tuple(reasons),
        risk_basis=tuple(risk_basis),
        prices=tuple(prices),
        irreversible=irreversible,
        rollback_note=rollback_note,
        basis_cost=basis_cost,
        evidence=scoped_evidence(ctx, rows, rid),
        period=ctx.period,
        found_at=ctx.found_at or datetime.now(UTC),
    )


def money_text(value: Decimal, currency: str) -> str:
    """``12.3 USD`` style text for titles and notes."""
    return f"{cents(value)} {currency}"
