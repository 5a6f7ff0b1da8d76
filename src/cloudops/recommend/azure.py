"""Azure recommenders: Premium SSD managed disks of the small tiers -> Standard SSD.

Pure ``(rows, ctx) -> list[Recommendation]`` over the run's billing month; savings are
shares of the disk's own EffectiveCost (ratios in ``recommend/data/replacements.csv``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from cloudops.recommend._common import build, group, in_period, is_committed, replacement_lines
from cloudops.recommend.prices import load_price_book
from cloudops.recommend.rows import RecommendContext, UsageRow
from cloudops.schemas.recommendations import AttributeChange, Recommendation

__all__ = ["managed_disk_tier"]

# Capacity meters of Premium SSD LRS disks: "P10 LRS Disk" (current exports) or "P10 Disks" (older ones).
_PREMIUM_LRS_METER = re.compile(r"^(P\d+)(?: LRS)? Disks?$")
_DISK_PATH = "/providers/microsoft.compute/disks/"


def managed_disk_tier(rows: Sequence[UsageRow], ctx: RecommendContext) -> list[Recommendation]:
    """``azure-managed-disk-tier``: Premium SSD LRS P1-P10 -> Standard SSD LRS (``storage_account_type``).

    "Low usage" from the bill alone: Premium SSD has no per-operation meter, so its IOPS
    are invisible in billing data. The table therefore covers only the tiers P1-P10, where
    the Standard SSD tier of the same size provisions at least the Premium IOPS (500 vs
    120-500); larger tiers would lose IOPS and are never proposed. Saving = the capacity
    meter's EffectiveCost x (1 - E-tier / P-tier price). Not deducted: Standard SSD's
    per-operation charge (small at low usage, unknown from the bill). Confidence ``low``:
    latency and the single-VM SLA are weaker on Standard SSD, and P10 -> E10 lowers
    throughput from 100 to 60 MB/s. Risk ``restart``: an attached disk's type changes only
    while its VM is deallocated.
    """
    book = load_price_book()
    candidates = [
        r
        for r in in_period(rows, ctx)
        if r.provider == "azure" and r.charge_category == "Usage" and _DISK_PATH in r.resource_id.lower()
    ]
    out: list[Recommendation] = []
    for (rid, _), rs in group(candidates, lambda r: (r.resource_id, r.currency)).items():
        if any(is_committed(r) for r in rs):
            continue
        by_tier = group(
            ((m.group(1), r) for r in rs if (m := _PREMIUM_LRS_METER.match(r.usage_detail))), lambda p: p[0]
        )
        if len(by_tier) != 1:
            continue  # not a Premium disk, or its tier changed within the month
        ((tier, pairs),) = by_tier.items()
        swap = book.replacement("azure-managed-disk-tier", tier)
        if swap is None:
            continue
        cost = sum((p[1].effective_cost for p in pairs), Decimal(0))
        disk_months = sum((p[1].quantity for p in pairs), Decimal(0))
        meter_rows = [p[1] for p in pairs]
        rec = build(
            ctx,
            kind="azure-managed-disk-tier",
            basis_cost=cost,
            rows=rs,
            savings=cost * (1 - swap.ratio),
            title=f"Move managed disk {rid.rsplit('/', 1)[-1]} from Premium SSD {tier} to Standard SSD {swap.proposed}",
            current={"storage_account_type": "Premium_LRS", "tier": tier},
            proposed={"storage_account_type": "StandardSSD_LRS"},
            confidence="low",
            confidence_reasons=(
                f"The bill shows the {tier} capacity meter ({disk_months.normalize():f} disk-months) in {ctx.period}, "
                "not covered by a reservation.",
                f"Standard SSD {swap.proposed} provisions at least the IOPS of Premium {tier} ({swap.note}).",
                "Premium SSD has no per-operation meter: the disk's real IOPS and latency needs are invisible in "
                "the bill, and Standard SSD's per-operation charge is not deducted.",
            ),
            risk_basis=("Azure changes an attached managed disk's type only while its VM is deallocated.",),
            rollback_note="Reverting needs the same deallocation to move the disk back to Premium SSD.",
            prices=replacement_lines(swap, disk_months, "disk-months", meter_rows, what="disk"),
            risk="restart",
            risk_note=(
                "The VM using the disk must be deallocated while its type changes. Standard SSD has higher "
                f"latency and bills operations; {swap.note}. An OS disk is set in the VM's os_disk block instead."
            ),
            resource_type="azurerm_managed_disk",
            changes=[
                AttributeChange(attribute="storage_account_type", current="Premium_LRS", proposed="StandardSSD_LRS")
            ],
        )
        if rec:
            out.append(rec)
    return out
