"""Helpers shared by the recommenders: grouping, rounding, AWS usage types, record building.

Rounding: every computation runs on unrounded Decimals (28 significant digits); the one
number rounded is a recommendation's ``monthly_savings``, quantized to 0.01 with
ROUND_HALF_UP when the record is built. A saving that rounds to 0.00 or less yields no
recommendation.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

from cloudops.recommend.rows import RecommendContext, UsageRow
from cloudops.schemas.recommendations import AttributeChange, Confidence, Evidence, Recommendation, Risk

__all__ = [
    "CENT",
    "MAX_EVIDENCE_ROWS",
    "build",
    "cents",
    "group",
    "in_period",
    "is_committed",
    "money_text",
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
) -> Recommendation | None:
    """A Recommendation for ``rows`` (one resource), or None when the saving rounds to 0.00 or less.

    Provider, currency and (unless given) resource id come from the first row; the
    evidence holds the run's query text and up to :data:`MAX_EVIDENCE_ROWS` rows.
    """
    money = cents(savings)
    if money <= 0 or not rows:
        return None
    first = rows[0]
    evidence_rows = sorted(rows, key=lambda r: (-r.effective_cost, r.month, r.usage_detail))[:MAX_EVIDENCE_ROWS]
    return Recommendation(
        tenant=ctx.tenant,
        kind=kind,
        provider=first.provider,
        resource_id=resource_id if resource_id is not None else first.resource_id,
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
        evidence=Evidence(query=ctx.query, rows=tuple(r.as_evidence() for r in evidence_rows)),
        period=ctx.period,
        found_at=ctx.found_at or datetime.now(UTC),
    )


def money_text(value: Decimal, currency: str) -> str:
    """``12.3 USD`` style text for titles and notes."""
    return f"{cents(value)} {currency}"
