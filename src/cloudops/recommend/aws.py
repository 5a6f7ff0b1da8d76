"""AWS recommenders: EBS volume types, previous-generation EC2/RDS, idle Elastic IPs, log retention, S3 tiering.

Each is a pure function ``(rows, ctx) -> list[Recommendation]`` over the run's billing
month (earlier months are history). Savings are shares of the resource's own
EffectiveCost; the shares come from ``recommend/data`` (see its README). Usage types are
matched without their region prefix (``USW2-BoxUsage:m4.large`` is ``BoxUsage:m4.large``).

Usage covered by a reservation or savings plan (PricingCategory ``Committed`` or a
CommitmentDiscountId) is never recommended for a type change: the change would strand the
commitment instead of saving money.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal

from cloudops.recommend._common import (
    build,
    group,
    in_period,
    is_committed,
    money_text,
    price_line,
    replacement_lines,
    usage_type,
)
from cloudops.recommend.prices import load_price_book
from cloudops.recommend.rows import RecommendContext, UsageRow, month_label
from cloudops.schemas.recommendations import AttributeChange, Confidence, Recommendation

__all__ = [
    "COLD_GETS_PER_GB",
    "LOG_RETENTION_DAYS",
    "S3_MIN_STANDARD_GB",
    "cloudwatch_logs_retention",
    "ebs_gp2_to_gp3",
    "ebs_io1_to_io2",
    "ec2_previous_generation",
    "idle_elastic_ip",
    "rds_previous_generation",
    "s3_lifecycle",
]

# EBS volume facts (https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html):
_GP2_IOPS_PER_GB = Decimal(3)  # gp2 baseline: 3 IOPS per GiB, at least 100, at most 16,000
_GP2_MIN_IOPS = Decimal(100)
_GP2_MAX_IOPS = Decimal(16_000)
_GP3_INCLUDED_IOPS = Decimal(3_000)
_GP3_INCLUDED_THROUGHPUT = Decimal(125)  # MiB/s
_GP2_MAX_THROUGHPUT = Decimal(250)  # MiB/s, gp2 above 170 GiB
_GP2_SMALL_THROUGHPUT_GB = Decimal(170)  # up to here gp2 delivers at most 128 MiB/s
_GP2_SUSTAINED_250_GB = Decimal(334)  # from here gp2 delivers 250 MiB/s without burst credits

LOG_RETENTION_DAYS = 30
S3_MIN_STANDARD_GB = Decimal(1_000)
"""A bucket is a tiering candidate from 1,000 GB-months of Standard storage."""
COLD_GETS_PER_GB = Decimal(1)
"""...and when it served at most one GET-class request (Requests-Tier2) per GB stored in the month."""

_EC2_BOX = re.compile(r"^BoxUsage:([a-z][a-z0-9-]*\.[a-z0-9]+)$")
_RDS_INSTANCE = re.compile(r"^(?:InstanceUsage|Multi-AZUsage)[A-Za-z]*:(db\.[a-z0-9-]+\.[a-z0-9]+)$")
# RDS operations whose class prices move together with the MySQL table: MySQL, PostgreSQL, MariaDB.
_RDS_ENGINES = {
    "CreateDBInstance:0002": "MySQL",
    "CreateDBInstance:0014": "PostgreSQL",
    "CreateDBInstance:0018": "MariaDB",
}
_IDLE_IP = {"ElasticIP:IdleAddress", "PublicIPv4:IdleAddress"}


def _aws_usage(rows: Sequence[UsageRow], ctx: RecommendContext) -> list[UsageRow]:
    return [r for r in in_period(rows, ctx) if r.provider == "aws" and r.resource_id and r.charge_category == "Usage"]


def _by_resource(rows: Sequence[UsageRow]) -> dict[tuple[str, str], list[UsageRow]]:
    return group(rows, lambda r: (r.resource_id, r.currency))


def _resources_with(
    rows: Sequence[UsageRow], ctx: RecommendContext, wanted: Callable[[UsageRow], bool]
) -> dict[tuple[str, str], list[UsageRow]]:
    """The period's AWS usage rows of the resources that have at least one ``wanted`` row, by resource."""
    usage = _aws_usage(rows, ctx)
    ids = {r.resource_id for r in usage if wanted(r)}
    return _by_resource([r for r in usage if r.resource_id in ids])


def _sum_cost(rows: Sequence[UsageRow]) -> Decimal:
    return sum((r.effective_cost for r in rows), Decimal(0))


def _sum_qty(rows: Sequence[UsageRow]) -> Decimal:
    return sum((r.quantity for r in rows), Decimal(0))


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def _qty(value: Decimal) -> str:
    """A quantity for prose: thousands separators, no exponent (``40,000``, ``0.5``)."""
    return format(value.normalize(), ",f") if value else "0"


def ebs_gp2_to_gp3(rows: Sequence[UsageRow], ctx: RecommendContext) -> list[Recommendation]:
    """``aws-ebs-gp2-to-gp3``: gp2 volumes -> gp3 (``type`` on ``aws_ebs_volume``, modified in place).

    The proposal keeps today's performance for the billed size S (GB-months, the volume's
    size when it existed all month):

    * IOPS: gp2's baseline is 3 IOPS/GB (at least 100, at most 16,000; volumes under
      1,000 GB burst to 3,000). gp3 includes 3,000; above that the proposal provisions
      ``iops`` = gp2's baseline and prices it (0.005 USD per IOPS-month).
    * Throughput: gp2 delivers up to 128 MiB/s up to 170 GB, up to 250 MiB/s above
      (sustained from 334 GB, on burst credits between). gp3 includes 125 MiB/s. From
      334 GB the proposal provisions ``throughput = 250`` and prices it (0.04 USD per
      MiB/s-month); between 170 and 334 GB it does not (gp2 only bursts there), and the
      confidence drops to ``medium`` with that reason.

    Saving = gp2 storage EffectiveCost x (1 - proposed list cost / current list cost).
    """
    book = load_price_book()
    gp2, gp3 = book.tier("aws-ebs-gp2-gb-month"), book.tier("aws-ebs-gp3-gb-month")
    iops_tier, tp_tier = book.tier("aws-ebs-gp3-iops-month"), book.tier("aws-ebs-gp3-throughput-month")
    out: list[Recommendation] = []
    for (rid, _), rs in _resources_with(rows, ctx, lambda r: usage_type(r) == "EBS:VolumeUsage.gp2").items():
        storage = [r for r in rs if usage_type(r) == "EBS:VolumeUsage.gp2" and not is_committed(r)]
        cost, size = _sum_cost(storage), _sum_qty(storage)
        if not storage or cost <= 0 or size <= 0:
            continue
        baseline = min(max(size * _GP2_IOPS_PER_GB, _GP2_MIN_IOPS), _GP2_MAX_IOPS)
        extra_iops = max(baseline - _GP3_INCLUDED_IOPS, Decimal(0))
        extra_tp = _GP2_MAX_THROUGHPUT - _GP3_INCLUDED_THROUGHPUT if size >= _GP2_SUSTAINED_250_GB else Decimal(0)
        lines = [
            price_line("current", "gp2 storage", gp2, size, storage),
            price_line("proposed", "gp3 storage", gp3, size, storage),
        ]
        changes = [AttributeChange(attribute="type", current="gp2", proposed="gp3")]
        proposed = {"type": "gp3"}
        reasons = [
            f"The bill shows {_qty(size)} GB-months of gp2 storage in {ctx.period}: a volume of about "
            f"{_qty(size)} GB all month (a volume that existed part of the month is larger than that).",
            f"gp2 at this size has a baseline of {baseline:,.0f} IOPS"
            + (" and bursts to 3,000" if size < 1000 else "")
            + (
                "; gp3 includes 3,000 IOPS, so no IOPS are provisioned."
                if extra_iops == 0
                else f"; the proposal provisions iops = {baseline:.0f} ({extra_iops:,.0f} above gp3's 3,000)."
            ),
        ]
        if extra_iops > 0:
            iops = str(int(baseline))
            changes.append(AttributeChange(attribute="iops", current=None, proposed=iops, value_kind="number"))
            proposed["iops"] = iops
            lines.append(price_line("proposed", "gp3 IOPS above 3,000", iops_tier, extra_iops, storage))
        confidence: Confidence = "high"
        if extra_tp > 0:
            changes.append(
                AttributeChange(
                    attribute="throughput", current=None, proposed=str(int(_GP2_MAX_THROUGHPUT)), value_kind="number"
                )
            )
            proposed["throughput"] = str(int(_GP2_MAX_THROUGHPUT))
            lines.append(price_line("proposed", "gp3 throughput above 125 MiB/s", tp_tier, extra_tp, storage))
            reasons.append(
                "gp2 delivers 250 MiB/s from 334 GB: the proposal provisions throughput = 250 so the volume keeps it "
                f"({money_text(tp_tier.price * extra_tp, 'USD')} a month at list price, deducted from the saving). "
                "If the workload never needs more than 125 MiB/s, removing that line saves that too."
            )
        elif size > _GP2_SMALL_THROUGHPUT_GB:
            confidence = "medium"
            reasons.append(
                "gp2 between 170 and 334 GB bursts to 250 MiB/s while burst credits last; gp3 gives 125 MiB/s "
                f"unless `throughput` is provisioned ({money_text(tp_tier.price, 'USD')} per MiB/s-month). "
                "Check the volume's CloudWatch VolumeReadBytes/VolumeWriteBytes before merging."
            )
        else:
            reasons.append("gp2 at this size delivers at most 128 MiB/s; gp3 includes 125 MiB/s.")
        current_cost = sum((ln.monthly_cost for ln in lines if ln.side == "current"), Decimal(0))
        proposed_cost = sum((ln.monthly_cost for ln in lines if ln.side == "proposed"), Decimal(0))
        rec = build(
            ctx,
            kind="aws-ebs-gp2-to-gp3",
            basis_cost=cost,
            rows=rs,
            savings=cost * (1 - proposed_cost / current_cost),
            title=f"Move EBS volume {rid} from gp2 to gp3",
            current={"type": "gp2", "size_gb_month": _plain(size)},
            proposed=proposed,
            confidence=confidence,
            confidence_reasons=reasons,
            risk="none",
            risk_note=(
                "Modified in place by Elastic Volumes: no detach, no restart; the volume cannot be modified again "
                "for 6 hours."
            ),
            risk_basis=(
                "EBS Elastic Volumes changes type, IOPS and throughput of an attached volume in place.",
                "Performance stays at the old figures or better while the volume is optimised.",
            ),
            rollback_note=(
                "Reverting changes the volume back to gp2 in place (again no detach), once the 6 hours after the "
                "first change have passed."
            ),
            resource_type="aws_ebs_volume",
            changes=changes,
            prices=lines,
        )
        if rec:
            out.append(rec)
    return out


def ebs_io1_to_io2(rows: Sequence[UsageRow], ctx: RecommendContext) -> list[Recommendation]:
    """``aws-ebs-io1-to-io2``: io1 volumes with more than 32,000 IOPS -> io2 (``type`` on ``aws_ebs_volume``).

    Storage costs the same per GB; io2's IOPS price is tiered (0.065 up to 32,000, 0.0455
    to 64,000, 0.03185 above) where io1's is flat 0.065. With q = the bill's IOPS-months
    (the provisioned IOPS when the volume existed all month), saving = IOPS EffectiveCost
    x (1 - io2(q) / io1(q)). Zero up to 32,000 IOPS: no recommendation.
    """
    book = load_price_book()
    out: list[Recommendation] = []
    for (rid, _), rs in _resources_with(rows, ctx, lambda r: usage_type(r) == "EBS:VolumeP-IOPS.piops").items():
        iops_rows = [r for r in rs if usage_type(r) == "EBS:VolumeP-IOPS.piops" and not is_committed(r)]
        cost, iops = _sum_cost(iops_rows), _sum_qty(iops_rows)
        if not iops_rows or cost <= 0 or iops <= 0:
            continue
        io1 = book.tiered_cost("aws-ebs-io1-iops-month", iops)
        io2 = book.tiered_cost("aws-ebs-io2-iops-month", iops)
        lines = [
            price_line("current", "io1 IOPS", t, q, iops_rows)
            for t, q in book.tiered_parts("aws-ebs-io1-iops-month", iops)
        ]
        floor = Decimal(0)
        for t, q in book.tiered_parts("aws-ebs-io2-iops-month", iops):
            band = f"{_qty(floor + 1)} to {_qty(t.upto)}" if t.upto else f"above {_qty(floor)}"
            lines.append(price_line("proposed", f"io2 IOPS, {band}", t, q, iops_rows))
            floor = t.upto or floor
        rec = build(
            ctx,
            kind="aws-ebs-io1-to-io2",
            basis_cost=cost,
            rows=rs,
            savings=cost * (1 - io2 / io1),
            title=f"Move EBS volume {rid} from io1 to io2 ({_plain(iops)} IOPS)",
            current={"type": "io1", "iops_month": _plain(iops)},
            proposed={"type": "io2"},
            confidence="high",
            confidence_reasons=(
                f"The bill shows {_qty(iops)} IOPS-months of io1 provisioned IOPS in {ctx.period}; io2's tiered "
                "IOPS price is lower than io1's flat price above 32,000 IOPS, storage costs the same.",
                "io2 keeps the provisioned IOPS and adds durability (99.999 %); nothing else of the volume changes.",
            ),
            risk="none",
            risk_note=(
                "Modified in place by Elastic Volumes (no detach, no restart); the volume cannot be modified "
                "again for 6 hours. io2 above 64,000 IOPS needs a Nitro instance (io2 Block Express)."
            ),
            risk_basis=("EBS Elastic Volumes changes io1 to io2 on an attached volume in place.",),
            rollback_note="Reverting changes the volume back to io1 in place, 6 hours after the first change.",
            prices=lines,
            resource_type="aws_ebs_volume",
            changes=[AttributeChange(attribute="type", current="io1", proposed="io2")],
        )
        if rec:
            out.append(rec)
    return out


def _dominant(rows: Sequence[UsageRow], pattern: re.Pattern[str]) -> tuple[str, list[UsageRow]] | None:
    """The instance type/class with the largest cost among rows matching ``pattern``, and its rows."""
    by_type = group(
        ((m.group(1), r) for r in rows if (m := pattern.match(usage_type(r)))),
        lambda pair: pair[0],
    )
    if not by_type:
        return None
    name, pairs = max(by_type.items(), key=lambda kv: (sum(p[1].effective_cost for p in kv[1]), kv[0]))
    return name, [p[1] for p in pairs]


def ec2_previous_generation(rows: Sequence[UsageRow], ctx: RecommendContext) -> list[Recommendation]:
    """``aws-ec2-previous-generation``: m3/m4 -> m5, c3/c4 -> c5, r3/r4 -> r5, t2 -> t3 (``instance_type``).

    On-demand Linux usage only (``BoxUsage:<type>``, operation ``RunInstances`` or unknown):
    the ratios are Linux prices. An instance with any committed usage in the month is left
    alone. Saving = the type's EffectiveCost x (1 - proposed / current on-demand price).
    """
    book = load_price_book()
    out: list[Recommendation] = []
    for (rid, _), rs in _resources_with(rows, ctx, lambda r: bool(_EC2_BOX.match(usage_type(r)))).items():
        if any(is_committed(r) for r in rs):
            continue
        box = [r for r in rs if r.operation in ("RunInstances", "") and r.pricing_category in ("Standard", "")]
        found = _dominant(box, _EC2_BOX)
        if found is None:
            continue
        itype, typed = found
        swap = book.replacement("aws-ec2-previous-generation", itype)
        if swap is None:
            continue
        note = (
            "Changing instance_type stops and starts the instance (instance-store data is lost). "
            f"{swap.proposed} is a Nitro type: the AMI needs the ENA and NVMe drivers."
        )
        if swap.proposed.startswith("t3."):
            note += (
                " t3 starts with unlimited CPU credits: keep t2 behaviour with"
                ' credit_specification { cpu_credits = "standard" }.'
            )
        hours = _sum_qty(typed)
        linux = all(r.operation == "RunInstances" for r in typed)
        rec = build(
            ctx,
            kind="aws-ec2-previous-generation",
            basis_cost=_sum_cost(typed),
            rows=rs,
            savings=_sum_cost(typed) * (1 - swap.ratio),
            title=f"Move EC2 instance {rid} from {itype} to {swap.proposed}",
            current={"instance_type": itype, "hours": _plain(_sum_qty(typed))},
            proposed={"instance_type": swap.proposed},
            confidence="high" if linux else "medium",
            confidence_reasons=(
                f"The bill shows {_qty(hours)} on-demand hours of {itype} in {ctx.period}, none covered by a "
                "reservation or savings plan.",
                "Linux/UNIX usage (operation RunInstances): the prices compared are Linux on-demand prices."
                if linux
                else "The bill does not name the operating system: Linux prices are assumed (a licence fee would "
                "not shrink).",
                f"{swap.proposed} is the same family and size, newer, with at least the vCPU and memory of "
                f"{itype} (price table: {swap.note}).",
            ),
            risk="restart",
            risk_note=note,
            risk_basis=(
                "AWS changes an instance's type only while it is stopped: Terraform stops it, changes it, starts it.",
            ),
            rollback_note="Reverting stops and starts the instance again, back on the old type.",
            prices=replacement_lines(swap, hours, "Hours", typed, what="on-demand"),
            resource_type="aws_instance",
            changes=[AttributeChange(attribute="instance_type", current=itype, proposed=swap.proposed)],
        )
        if rec:
            out.append(rec)
    return out


def rds_previous_generation(rows: Sequence[UsageRow], ctx: RecommendContext) -> list[Recommendation]:
    """``aws-rds-previous-generation``: db.m4 -> db.m5 (and price-neutral db.r4 -> db.r5, db.t2 -> db.t3).

    Instance usage (``InstanceUsage:<class>`` / ``Multi-AZUsage:<class>``) of MySQL,
    PostgreSQL or MariaDB (or an unknown engine), not committed. The ratios are MySQL
    prices (confidence ``high`` for MySQL, ``medium`` otherwise). Price-neutral swaps
    yield no recommendation.
    """
    book = load_price_book()
    out: list[Recommendation] = []
    for (rid, _), rs in _resources_with(rows, ctx, lambda r: bool(_RDS_INSTANCE.match(usage_type(r)))).items():
        if any(is_committed(r) for r in rs):
            continue
        usable = [r for r in rs if r.operation in _RDS_ENGINES or r.operation == ""]
        found = _dominant(usable, _RDS_INSTANCE)
        if found is None:
            continue
        cls, typed = found
        swap = book.replacement("aws-rds-previous-generation", cls)
        if swap is None:
            continue
        mysql = all(_RDS_ENGINES.get(r.operation) == "MySQL" for r in typed)
        engines = sorted({_RDS_ENGINES.get(r.operation, "an unknown engine") for r in typed})
        hours = _sum_qty(typed)
        multi_az = any(usage_type(r).startswith("Multi-AZUsage") for r in typed)
        rec = build(
            ctx,
            kind="aws-rds-previous-generation",
            basis_cost=_sum_cost(typed),
            rows=rs,
            savings=_sum_cost(typed) * (1 - swap.ratio),
            title=f"Move RDS instance {rid.rsplit(':', 1)[-1]} from {cls} to {swap.proposed}",
            current={"instance_class": cls, "hours": _plain(_sum_qty(typed))},
            proposed={"instance_class": swap.proposed},
            confidence="high" if mysql else "medium",
            confidence_reasons=(
                f"The bill shows {_qty(hours)} on-demand instance hours of {cls} ({', '.join(engines)}) in "
                f"{ctx.period}, none covered by a reservation.",
                "The prices compared are MySQL Single-AZ prices; "
                + (
                    "the engine is MySQL."
                    if mysql
                    else f"for {', '.join(engines)} only their ratio is applied to your own cost (prices of these "
                    "engines differ from MySQL's by a near-constant factor)."
                ),
                *(["Multi-AZ usage: both prices double, the ratio is the same."] if multi_az else []),
            ),
            risk="restart",
            risk_note=(
                "Changing instance_class restarts the database: in the next maintenance window unless "
                "apply_immediately = true; a Multi-AZ instance fails over (typically one to two minutes)."
            ),
            risk_basis=(
                "RDS applies an instance class change by restarting the DB instance (a failover for Multi-AZ).",
                "When it happens depends on apply_immediately and the maintenance window: see the Terraform "
                "configuration facts below.",
            ),
            rollback_note="Reverting changes the class back with the same restart (or failover).",
            prices=replacement_lines(swap, hours, "Hours", typed, what="instance"),
            resource_type="aws_db_instance",
            changes=[AttributeChange(attribute="instance_class", current=cls, proposed=swap.proposed)],
        )
        if rec:
            out.append(rec)
    return out


def idle_elastic_ip(rows: Sequence[UsageRow], ctx: RecommendContext) -> list[Recommendation]:
    """``aws-idle-elastic-ip`` (report-only): addresses billed as idle; saving = that EffectiveCost.

    Report-only because the fix is deleting the ``aws_eip`` resource (or associating the
    address), not an argument edit: ``changes`` is empty and ``resource_type`` None.
    """
    out: list[Recommendation] = []
    for (rid, currency), rs in _resources_with(rows, ctx, lambda r: usage_type(r) in _IDLE_IP).items():
        idle = [r for r in rs if usage_type(r) in _IDLE_IP]
        cost = _sum_cost(idle)
        if not idle or cost <= 0:
            continue
        rec = build(
            ctx,
            kind="aws-idle-elastic-ip",
            rows=idle,
            savings=cost,
            title=f"Release idle Elastic IP {rid} ({money_text(cost, currency)} a month)",
            current={"state": "idle", "idle_hours": _plain(_sum_qty(idle))},
            proposed={"action": "release"},
            confidence="high",
            risk="none",
            risk_note=(
                "Report-only: remove the aws_eip resource (or associate the address with a running instance). "
                "A released address cannot be recovered: check DNS records and allow-lists that name it."
            ),
        )
        if rec:
            out.append(rec)
    return out


def _previous_month(month: date) -> date:
    return date(month.year - 1, 12, 1) if month.month == 1 else date(month.year, month.month - 1, 1)


def cloudwatch_logs_retention(rows: Sequence[UsageRow], ctx: RecommendContext) -> list[Recommendation]:
    """``aws-cloudwatch-logs-retention``: log groups whose stored bytes keep growing -> ``retention_in_days = 30``.

    Estimate (needs the previous month's storage in ``rows``): without retention, stored
    GB-months grow each month by the month's (compressed) ingestion, so Δ = Q(m) - Q(m-1)
    estimates one month of logs, which is what 30-day retention keeps at steady state.
    Saving = storage EffectiveCost(m) x (1 - Δ / Q(m)) = cost(m) x Q(m-1) / Q(m). Storage
    that does not grow (retention already set, or no new logs) yields nothing; neither does
    a log group with a single month of history. Confidence ``medium`` when storage grew over
    two consecutive months (three months of rows), else ``low``. Assumes a steady ingestion
    rate; the first month after the change is a transition.
    """
    month = ctx.month
    prev = _previous_month(month)
    before = _previous_month(prev)
    storage = [
        r
        for r in rows
        if r.provider == "aws"
        and r.resource_id
        and r.charge_category == "Usage"
        and usage_type(r) == "TimedStorage-ByteHrs"
        and (r.product_code == "AmazonCloudWatch" or "CloudWatch" in r.service_name)
    ]
    out: list[Recommendation] = []
    for (rid, _), rs in _by_resource(storage).items():
        by_month = {m: (_sum_qty(g), _sum_cost(g)) for m, g in group(rs, lambda r: r.month).items()}
        if month not in by_month or prev not in by_month:
            continue
        (q_now, cost_now), (q_prev, _) = by_month[month], by_month[prev]
        if q_prev <= 0 or q_now <= q_prev or cost_now <= 0:
            continue
        q_before = by_month.get(before, (Decimal(0), Decimal(0)))[0]
        steady_growth = 0 < q_before < q_prev
        kept = q_now - q_prev
        logs = load_price_book().tier("aws-cloudwatch-logs-storage-gb-month")
        now_rows = [r for r in rs if r.month == month]
        lines = [
            price_line("current", "log storage (never expires)", logs, q_now, now_rows),
            price_line("proposed", f"log storage ({LOG_RETENTION_DAYS}-day retention, estimate)", logs, kept, now_rows),
        ]
        rec = build(
            ctx,
            kind="aws-cloudwatch-logs-retention",
            basis_cost=cost_now,
            rows=[r for r in rs if r.month in (month, prev, before)],
            savings=cost_now * q_prev / q_now,
            title=f"Set a {LOG_RETENTION_DAYS}-day retention on log group {rid.rsplit(':log-group:', 1)[-1]}",
            current={"retention_in_days": "never expire", "stored_gb_month": _plain(q_now)},
            proposed={"retention_in_days": str(LOG_RETENTION_DAYS)},
            confidence="medium" if steady_growth else "low",
            confidence_reasons=(
                f"Stored log data grew from {_qty(q_prev)} to {_qty(q_now)} GB-months between "
                f"{month_label(prev)} and {ctx.period}: nothing expires today.",
                f"One month of growth ({_qty(kept)} GB-months) estimates what {LOG_RETENTION_DAYS}-day "
                "retention keeps at steady state; it assumes a steady ingestion rate.",
                "Storage also grew the month before: the trend holds over two months."
                if steady_growth
                else "Only two months of history: the trend is not confirmed.",
            ),
            risk="data_loss",
            risk_note=(
                f"Logs older than {LOG_RETENTION_DAYS} days are deleted for good within days of applying: export "
                "them to S3 first (aws logs create-export-task) if audits, investigations or compliance need them."
            ),
            risk_basis=(
                "CloudWatch Logs deletes events older than the retention period; deleted events cannot be restored.",
                f"About {_qty(q_prev)} GB-months of older logs are in scope of the deletion.",
            ),
            irreversible=True,
            rollback_note=(
                "Reverting removes the retention setting so nothing more is deleted; the log events already "
                "deleted do not come back (only an export made before applying has them)."
            ),
            prices=lines,
            resource_type="aws_cloudwatch_log_group",
            changes=[
                AttributeChange(
                    attribute="retention_in_days", current=None, proposed=str(LOG_RETENTION_DAYS), value_kind="number"
                )
            ],
        )
        if rec:
            out.append(rec)
    return out


def s3_lifecycle(rows: Sequence[UsageRow], ctx: RecommendContext) -> list[Recommendation]:
    """``aws-s3-lifecycle`` (report-only): large, cold S3 Standard data -> Intelligent-Tiering.

    A bucket qualifies with at least :data:`S3_MIN_STANDARD_GB` GB-months of Standard
    storage (``TimedStorage-ByteHrs``) and at most :data:`COLD_GETS_PER_GB` GET-class
    requests (``Requests-Tier2``) per GB in the month. Saving = Standard EffectiveCost x
    (1 - Infrequent Access tier / Standard price) (0.0125 vs 0.023: 45.7 %), what
    Intelligent-Tiering charges for objects untouched for 30 days. Not deducted (unknown
    from the bill): the monitoring fee (0.0025 USD per 1,000 objects of 128 KB or more a
    month) and the one-time transition requests; hence confidence ``low``.

    Report-only: the change is a new ``aws_s3_bucket_lifecycle_configuration`` (a rule
    transitioning to ``INTELLIGENT_TIERING``), not an argument edit of the bucket.
    """
    book = load_price_book()
    ratio = book.price("aws-s3-intelligent-tiering-ia-gb-month") / book.price("aws-s3-standard-gb-month")
    s3 = [
        r
        for r in _aws_usage(rows, ctx)
        if r.product_code == "AmazonS3" or r.service_name == "Amazon Simple Storage Service"
    ]
    out: list[Recommendation] = []
    for (rid, _), rs in _by_resource(s3).items():
        standard = [r for r in rs if usage_type(r) == "TimedStorage-ByteHrs"]
        gb, cost = _sum_qty(standard), _sum_cost(standard)
        gets = _sum_qty([r for r in rs if usage_type(r) == "Requests-Tier2"])
        if gb < S3_MIN_STANDARD_GB or cost <= 0 or gets > gb * COLD_GETS_PER_GB:
            continue
        rec = build(
            ctx,
            kind="aws-s3-lifecycle",
            rows=rs,
            savings=cost * (1 - ratio),
            title=f"Move cold data of S3 bucket {rid} to Intelligent-Tiering",
            current={"storage_class": "STANDARD", "stored_gb_month": _plain(gb), "get_requests": _plain(gets)},
            proposed={"storage_class": "INTELLIGENT_TIERING"},
            confidence="low",
            risk="none",
            risk_note=(
                "Report-only: add an aws_s3_bucket_lifecycle_configuration rule transitioning objects to "
                "INTELLIGENT_TIERING. Objects under 128 KB stay in the frequent tier; the monitoring fee "
                "(0.0025 USD per 1,000 objects a month) is not deducted from the estimate."
            ),
        )
        if rec:
            out.append(rec)
    return out
