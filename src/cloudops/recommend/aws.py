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

from cloudops.recommend._common import build, group, in_period, is_committed, money_text, usage_type
from cloudops.recommend.prices import load_price_book
from cloudops.recommend.rows import RecommendContext, UsageRow
from cloudops.schemas.recommendations import AttributeChange, Recommendation

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


def ebs_gp2_to_gp3(rows: Sequence[UsageRow], ctx: RecommendContext) -> list[Recommendation]:
    """``aws-ebs-gp2-to-gp3``: gp2 volumes -> gp3 (``type`` on ``aws_ebs_volume``, modified in place).

    Saving = gp2 storage EffectiveCost x (1 - gp3 cost / gp2 cost) at list prices for the
    billed size S (GB-months): 20 % (0.08 vs 0.10 per GB-month) while gp2's baseline IOPS
    (3/GB) fit in gp3's included 3,000 IOPS, i.e. up to 1,000 GB. Above that the proposal
    also provisions ``iops`` = gp2's baseline (at most 16,000), and its price is deducted.
    """
    book = load_price_book()
    gp2, gp3 = book.price("aws-ebs-gp2-gb-month"), book.price("aws-ebs-gp3-gb-month")
    iops_price = book.price("aws-ebs-gp3-iops-month")
    out: list[Recommendation] = []
    for (rid, _), rs in _resources_with(rows, ctx, lambda r: usage_type(r) == "EBS:VolumeUsage.gp2").items():
        storage = [r for r in rs if usage_type(r) == "EBS:VolumeUsage.gp2" and not is_committed(r)]
        cost, size = _sum_cost(storage), _sum_qty(storage)
        if not storage or cost <= 0:
            continue
        baseline = min(max(size * _GP2_IOPS_PER_GB, _GP2_MIN_IOPS), _GP2_MAX_IOPS)
        extra_iops = max(baseline - _GP3_INCLUDED_IOPS, Decimal(0))
        ratio = (gp3 * size + iops_price * extra_iops) / (gp2 * size) if size > 0 else gp3 / gp2
        changes = [AttributeChange(attribute="type", current="gp2", proposed="gp3")]
        proposed = {"type": "gp3"}
        if extra_iops > 0:
            iops = str(int(baseline))
            changes.append(AttributeChange(attribute="iops", current=None, proposed=iops, value_kind="number"))
            proposed["iops"] = iops
        rec = build(
            ctx,
            kind="aws-ebs-gp2-to-gp3",
            rows=rs,
            savings=cost * (1 - ratio),
            title=f"Move EBS volume {rid} from gp2 to gp3",
            current={"type": "gp2", "size_gb_month": _plain(size)},
            proposed=proposed,
            confidence="high" if extra_iops == 0 else "medium",
            risk="none",
            risk_note=(
                "Modified in place by Elastic Volumes: no detach, no restart. gp3 includes 3,000 IOPS and "
                "125 MiB/s; a gp2 volume of 334 GiB or more can reach 250 MiB/s, so set `throughput` if the "
                "workload needs more than 125 MiB/s (0.04 USD per MiB/s-month)."
            ),
            resource_type="aws_ebs_volume",
            changes=changes,
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
        rec = build(
            ctx,
            kind="aws-ebs-io1-to-io2",
            rows=rs,
            savings=cost * (1 - io2 / io1),
            title=f"Move EBS volume {rid} from io1 to io2 ({_plain(iops)} IOPS)",
            current={"type": "io1", "iops_month": _plain(iops)},
            proposed={"type": "io2"},
            confidence="high",
            risk="none",
            risk_note=(
                "Modified in place by Elastic Volumes (no detach, no restart); the volume cannot be modified "
                "again for 6 hours. io2 above 64,000 IOPS needs a Nitro instance (io2 Block Express)."
            ),
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
        rec = build(
            ctx,
            kind="aws-ec2-previous-generation",
            rows=rs,
            savings=_sum_cost(typed) * (1 - swap.ratio),
            title=f"Move EC2 instance {rid} from {itype} to {swap.proposed}",
            current={"instance_type": itype, "hours": _plain(_sum_qty(typed))},
            proposed={"instance_type": swap.proposed},
            confidence="high" if all(r.operation == "RunInstances" for r in typed) else "medium",
            risk="restart",
            risk_note=note,
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
        rec = build(
            ctx,
            kind="aws-rds-previous-generation",
            rows=rs,
            savings=_sum_cost(typed) * (1 - swap.ratio),
            title=f"Move RDS instance {rid.rsplit(':', 1)[-1]} from {cls} to {swap.proposed}",
            current={"instance_class": cls, "hours": _plain(_sum_qty(typed))},
            proposed={"instance_class": swap.proposed},
            confidence="high" if mysql else "medium",
            risk="restart",
            risk_note=(
                "Changing instance_class restarts the database: in the next maintenance window unless "
                "apply_immediately = true; a Multi-AZ instance fails over (typically one to two minutes)."
            ),
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
        rec = build(
            ctx,
            kind="aws-cloudwatch-logs-retention",
            rows=[r for r in rs if r.month in (month, prev, before)],
            savings=cost_now * q_prev / q_now,
            title=f"Set a {LOG_RETENTION_DAYS}-day retention on log group {rid.rsplit(':log-group:', 1)[-1]}",
            current={"retention_in_days": "never expire", "stored_gb_month": _plain(q_now)},
            proposed={"retention_in_days": str(LOG_RETENTION_DAYS)},
            confidence="medium" if steady_growth else "low",
            risk="none",
            risk_note=(
                f"Logs older than {LOG_RETENTION_DAYS} days are deleted for good: export them to S3 first if "
                f"audits need them. Estimate: about {_plain(kept)} GB-months kept (one month of growth)."
            ),
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
