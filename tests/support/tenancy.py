"""Shared builders for the tenancy and service-layer tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from cloudops.schemas.recommendations import AttributeChange, Evidence, Recommendation

__all__ = ["make_recommendation"]


def make_recommendation(tenant: str, resource: str, savings: str) -> Recommendation:
    """An EBS gp2 -> gp3 recommendation of ``tenant`` for ``resource`` saving ``savings`` a month."""
    return Recommendation(
        tenant=tenant,
        kind="aws-ebs-gp2-to-gp3",
        provider="aws",
        resource_id=resource,
        resource_type="aws_ebs_volume",
        title=f"Move EBS volume {resource} from gp2 to gp3",
        current={"type": "gp2"},
        proposed={"type": "gp3"},
        changes=(AttributeChange(attribute="type", current="gp2", proposed="gp3"),),
        monthly_savings=Decimal(savings),
        currency="USD",
        confidence="high",
        risk="none",
        evidence=Evidence(query="{}", rows=({"resource_id": resource},)),
        period="2023-11",
        found_at=datetime(2023, 12, 1, tzinfo=UTC),
    )
