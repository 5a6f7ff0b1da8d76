"""GCP recommenders: SSD persistent disks -> balanced persistent disks.

Direction, decided on price: pd-standard -> pd-balanced *raises* the price per GiB 2.5x
(0.04 -> 0.10 USD/GiB-month, us-central1); it buys IOPS (0.75 -> 6 read IOPS/GiB) that the
bill cannot show are needed, so it is not a savings recommendation. pd-ssd -> pd-balanced
lowers it by 41 % (0.17 -> 0.10) at 6 instead of 30 IOPS/GiB: that is the recommender here,
kind ``gcp-pd-ssd-to-balanced``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from cloudops.recommend._common import build, group, in_period, is_committed, replacement_lines
from cloudops.recommend.prices import load_price_book
from cloudops.recommend.rows import RecommendContext, UsageRow
from cloudops.schemas.recommendations import AttributeChange, Recommendation

__all__ = ["pd_ssd_to_balanced"]

# SKU descriptions (FOCUS SkuMeter of the GCP billing export) of SSD PD capacity.
_SSD_CAPACITY = {"SSD backed PD Capacity": "pd-ssd", "Regional SSD backed PD Capacity": "regional-pd-ssd"}


def pd_ssd_to_balanced(rows: Sequence[UsageRow], ctx: RecommendContext) -> list[Recommendation]:
    """``gcp-pd-ssd-to-balanced``: pd-ssd disks -> pd-balanced (``type``; forces replacement).

    Saving = the SSD capacity EffectiveCost x (1 - 0.10 / 0.17). Risk ``replacement``:
    Terraform recreates a ``google_compute_disk`` (``google_compute_region_disk`` for
    regional disks) when ``type`` changes, so the data must be moved through a snapshot.
    Confidence ``low``: the bill does not show the disk's IOPS, and balanced PD gives 6
    IOPS/GiB where SSD PD gives 30.
    """
    book = load_price_book()
    candidates = [r for r in in_period(rows, ctx) if r.provider == "gcp" and r.charge_category == "Usage"]
    out: list[Recommendation] = []
    for (rid, _), rs in group(candidates, lambda r: (r.resource_id, r.currency)).items():
        if not rid or any(is_committed(r) for r in rs):
            continue
        ssd = [r for r in rs if r.usage_detail in _SSD_CAPACITY]
        if not ssd:
            continue
        swap = book.replacement("gcp-pd-ssd-to-balanced", _SSD_CAPACITY[ssd[0].usage_detail])
        if swap is None:
            continue
        regional = swap.current.startswith("regional-") or "/regions/" in rid
        gib = sum((r.quantity for r in ssd), Decimal(0))
        rec = build(
            ctx,
            kind="gcp-pd-ssd-to-balanced",
            basis_cost=sum((r.effective_cost for r in ssd), Decimal(0)),
            rows=rs,
            savings=sum((r.effective_cost for r in ssd), Decimal(0)) * (1 - swap.ratio),
            title=f"Move persistent disk {rid.rsplit('/', 1)[-1]} from pd-ssd to pd-balanced",
            current={"type": "pd-ssd"},
            proposed={"type": "pd-balanced"},
            confidence="low",
            confidence_reasons=(
                f"The bill shows {gib.normalize():f} GiB-months of {swap.current} capacity in {ctx.period}.",
                "The bill does not show the disk's IOPS or throughput: balanced PD gives 6 IOPS/GiB where SSD PD "
                "gives 30, so a busy disk would be slower.",
            ),
            risk_basis=(
                "The Google provider marks `type` of a disk ForceNew: Terraform destroys the disk and creates "
                "an empty one.",
            ),
            irreversible=True,
            rollback_note=(
                "Reverting recreates the disk again (empty): the data comes back only from a snapshot taken before."
            ),
            prices=replacement_lines(swap, gib, "GiB-Mo", ssd, what="capacity"),
            risk="replacement",
            risk_note=(
                "Changing `type` makes Terraform destroy and recreate the disk: snapshot it and create the new "
                "disk from the snapshot (or migrate the data) first. Balanced PD: 6 IOPS/GiB instead of 30."
            ),
            resource_type="google_compute_region_disk" if regional else "google_compute_disk",
            changes=[AttributeChange(attribute="type", current="pd-ssd", proposed="pd-balanced")],
        )
        if rec:
            out.append(rec)
    return out
