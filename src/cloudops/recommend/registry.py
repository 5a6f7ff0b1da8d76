"""The registry of recommenders, and running them over a tenant's usage rows.

Every recommender is a pure function ``(rows, ctx) -> list[Recommendation]`` with a
stable ``kind`` id (it becomes part of each recommendation's fingerprint: never rename
one). :func:`recommend` runs all (or some) of them; it is deterministic for given rows
and a context with ``found_at`` set. A recommender raising is a bug and propagates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from cloudops.recommend import aws, azure, commitments, gcp
from cloudops.recommend.rows import RecommendContext, UsageRow
from cloudops.schemas.recommendations import Recommendation

__all__ = ["RECOMMENDERS", "Recommender", "RecommenderFn", "kinds", "recommend", "recommender"]

RecommenderFn = Callable[[Sequence[UsageRow], RecommendContext], list[Recommendation]]


@dataclass(frozen=True, slots=True)
class Recommender:
    kind: str
    provider: str  # provider id, or "any"
    fn: RecommenderFn
    report_only: bool
    summary: str


RECOMMENDERS: tuple[Recommender, ...] = (
    Recommender("aws-ebs-gp2-to-gp3", "aws", aws.ebs_gp2_to_gp3, False, "gp2 EBS volumes -> gp3 (20 % cheaper per GB)"),
    Recommender("aws-ebs-io1-to-io2", "aws", aws.ebs_io1_to_io2, False, "io1 volumes above 32,000 IOPS -> io2"),
    Recommender(
        "aws-ec2-previous-generation", "aws", aws.ec2_previous_generation, False, "m3/m4, c3/c4, r3/r4, t2 -> 5th gen"
    ),
    Recommender(
        "aws-rds-previous-generation", "aws", aws.rds_previous_generation, False, "db.m4 (db.r4, db.t2) -> db.m5 ..."
    ),
    Recommender(
        "azure-managed-disk-tier", "azure", azure.managed_disk_tier, False, "Premium SSD P1-P10 -> Standard SSD"
    ),
    Recommender("gcp-pd-ssd-to-balanced", "gcp", gcp.pd_ssd_to_balanced, False, "pd-ssd -> pd-balanced (replacement)"),
    Recommender("aws-idle-elastic-ip", "aws", aws.idle_elastic_ip, True, "idle Elastic IPs / public IPv4 addresses"),
    Recommender(
        "aws-cloudwatch-logs-retention", "aws", aws.cloudwatch_logs_retention, False, "growing log groups -> 30 days"
    ),
    Recommender(
        "aws-s3-lifecycle", "aws", aws.s3_lifecycle, True, "large, cold S3 Standard buckets -> Intelligent-Tiering"
    ),
    Recommender("commitment-unused", "any", commitments.commitment_unused, True, "unused reservations / savings plans"),
    Recommender(
        "commitment-low-coverage", "any", commitments.commitment_low_coverage, True, "too much on-demand compute"
    ),
)

_BY_KIND = {r.kind: r for r in RECOMMENDERS}
assert len(_BY_KIND) == len(RECOMMENDERS), "recommender kinds must be unique"


def kinds() -> list[str]:
    """Every registered kind, in registry order."""
    return [r.kind for r in RECOMMENDERS]


def recommender(kind: str) -> Recommender:
    """The recommender of ``kind``; KeyError naming the known kinds otherwise."""
    try:
        return _BY_KIND[kind]
    except KeyError:
        raise KeyError(f"unknown recommender {kind!r}: known are {', '.join(_BY_KIND)}") from None


def recommend(
    rows: Sequence[UsageRow], ctx: RecommendContext, *, only: Iterable[str] | None = None
) -> list[Recommendation]:
    """Run the recommenders (all, or the kinds in ``only``) over ``rows``.

    Returns the recommendations sorted by monthly savings (largest first), then kind and
    resource id. Raises KeyError for an unknown kind in ``only``.
    """
    chosen = RECOMMENDERS if only is None else tuple(recommender(k) for k in only)
    found: list[Recommendation] = []
    for r in chosen:
        found.extend(r.fn(rows, ctx))
    return sorted(found, key=lambda rec: (-rec.monthly_savings, rec.kind, rec.resource_id))
