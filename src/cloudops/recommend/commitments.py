"""Commitment recommenders (report-only): unused commitments, and low commitment coverage of compute.

Pure ``(rows, ctx) -> list[Recommendation]`` over the run's billing month.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from cloudops.recommend._common import build, group, in_period, money_text, usage_type
from cloudops.recommend.prices import load_price_book
from cloudops.recommend.rows import RecommendContext, UsageRow
from cloudops.schemas.recommendations import Confidence, Recommendation

__all__ = ["MIN_ELIGIBLE_COST", "ON_DEMAND_SHARE_THRESHOLD", "commitment_low_coverage", "commitment_unused"]

ON_DEMAND_SHARE_THRESHOLD = Decimal("0.30")
"""Recommend more commitment when over 30 % of eligible compute (on-demand equivalent) runs on demand."""
MIN_ELIGIBLE_COST = Decimal(100)
"""...and the account's eligible compute cost at least this much in the month (in its currency)."""

# AWS usage a Compute Savings Plan or an EC2 reservation covers: instances, Fargate, Lambda duration.
_AWS_ELIGIBLE = re.compile(
    r"^(BoxUsage|DedicatedUsage|HostUsage|Fargate-vCPU-Hours|Fargate-GB-Hours|Lambda-GB-Second)\b"
)
_HOURS = re.compile(r"hour|hrs", re.IGNORECASE)
_DEFAULT_DISCOUNT = {"aws": "aws-compute-savings-plan-discount", "gcp": "gcp-compute-cud-discount"}


def _is_unused(r: UsageRow) -> bool:
    """FOCUS ``Unused`` rows, or (AWS CUR) a commitment's recurring fee whose EffectiveCost is the unused part.

    FOCUS sets a commitment purchase's EffectiveCost to 0 (amortised into the usage it
    covers); cloudops' AWS CUR rules keep the unused amortised part on the RIFee/Savings
    Plan recurring fee rows instead, so a Purchase row with a commitment and a positive
    EffectiveCost is unused commitment.
    """
    if r.commitment_discount_status == "Unused":
        return True
    return r.charge_category == "Purchase" and bool(r.commitment_discount_id) and r.effective_cost > 0


def _commitment_key(r: UsageRow) -> tuple[str, str, str]:
    return r.provider, r.commitment_discount_id or r.resource_id, r.currency


def commitment_unused(rows: Sequence[UsageRow], ctx: RecommendContext) -> list[Recommendation]:
    """``commitment-unused`` (report-only): per commitment, the EffectiveCost of its unused part."""
    unused = [r for r in in_period(rows, ctx) if _is_unused(r) and (r.commitment_discount_id or r.resource_id)]
    out: list[Recommendation] = []
    for (_, cid, currency), rs in group(unused, _commitment_key).items():
        cost = sum((r.effective_cost for r in rs), Decimal(0))
        ctype = rs[0].commitment_discount_type or "commitment"
        rec = build(
            ctx,
            kind="commitment-unused",
            rows=rs,
            savings=cost,
            resource_id=cid,
            title=f"{ctype} {cid} left {money_text(cost, currency)} unused in {ctx.period}",
            current={"commitment_type": ctype, "unused_cost": str(cost)},
            proposed={"action": "use-or-reduce-commitment"},
            confidence="high",
            risk="none",
            risk_note=(
                "Report-only: move eligible usage onto the commitment, exchange it (convertible reservations) or "
                "sell it (AWS standard RIs on the Reserved Instance Marketplace); savings plans cannot be cancelled."
            ),
        )
        if rec:
            out.append(rec)
    return out


def _eligible(r: UsageRow) -> bool:
    if r.charge_category != "Usage" or r.pricing_category not in ("Standard", "Committed"):
        return False
    if r.provider == "aws":
        return bool(_AWS_ELIGIBLE.match(usage_type(r)))
    return r.service_category == "Compute" and bool(_HOURS.search(r.consumed_unit or r.pricing_unit))


def commitment_low_coverage(rows: Sequence[UsageRow], ctx: RecommendContext) -> list[Recommendation]:
    """``commitment-low-coverage`` (report-only): on-demand share of eligible compute above the threshold.

    Per (provider, billing account, currency): shares use ListCost (the on-demand
    equivalent; EffectiveCost where ListCost is 0). When the on-demand share exceeds
    :data:`ON_DEMAND_SHARE_THRESHOLD`, the proposal is to commit enough to bring it down to
    the threshold: covered = L_od - threshold x L_total (on-demand equivalent), saving =
    E_od x covered / L_od x discount. The discount is the account's own observed one
    (1 - E_committed / L_committed) when it already has committed usage (confidence
    ``medium``), else the provider's typical 1-year rate from ``prices.csv`` (confidence
    ``low``); a provider with neither gets no recommendation.
    """
    book = load_price_book()
    eligible = [r for r in in_period(rows, ctx) if _eligible(r)]
    out: list[Recommendation] = []
    for (provider, account, currency), rs in group(
        eligible, lambda r: (r.provider, r.billing_account_id, r.currency)
    ).items():
        if not account:
            continue
        od = [r for r in rs if r.pricing_category == "Standard"]
        committed = [r for r in rs if r.pricing_category == "Committed"]
        l_od = sum((r.list_cost or r.effective_cost for r in od), Decimal(0))
        l_c = sum((r.list_cost or r.effective_cost for r in committed), Decimal(0))
        e_od = sum((r.effective_cost for r in od), Decimal(0))
        e_c = sum((r.effective_cost for r in committed), Decimal(0))
        total = l_od + l_c
        if e_od + e_c < MIN_ELIGIBLE_COST or total <= 0 or l_od <= 0 or e_od <= 0:
            continue
        share = l_od / total
        if share <= ON_DEMAND_SHARE_THRESHOLD:
            continue
        own = 1 - e_c / l_c if l_c > 0 else Decimal(0)
        confidence: Confidence
        if 0 < own < 1:
            discount, confidence, basis = own, "medium", "the account's own commitment discount"
        elif provider in _DEFAULT_DISCOUNT:
            discount, confidence = book.price(_DEFAULT_DISCOUNT[provider]), "low"
            basis = "a typical 1-year commitment discount"
        else:
            continue
        covered = l_od - ON_DEMAND_SHARE_THRESHOLD * total
        rec = build(
            ctx,
            kind="commitment-low-coverage",
            rows=rs,
            savings=e_od * covered / l_od * discount,
            resource_id=account,
            title=(
                f"Commit more compute in account {account}: {share * 100:.0f} % runs on demand "
                f"(target {ON_DEMAND_SHARE_THRESHOLD * 100:.0f} %)"
            ),
            current={"on_demand_share": f"{share:.4f}", "on_demand_cost": str(e_od)},
            proposed={"on_demand_share_max": str(ON_DEMAND_SHARE_THRESHOLD)},
            confidence=confidence,
            risk="none",
            risk_note=(
                f"Report-only: a 1- or 3-year commitment is an obligation to pay whether used or not; size it to "
                f"the steady baseline, not the month's peak. Estimated with {basis} ({discount * 100:.1f} %) on "
                f"{covered:.2f} {currency} of on-demand-equivalent cost."
            ),
        )
        if rec:
            out.append(rec)
    return out
