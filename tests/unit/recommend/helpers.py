"""Building UsageRow lists directly for the recommender unit tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from cloudops.recommend import RecommendContext, UsageRow
from cloudops.schemas.recommendations import Recommendation

NOV = date(2023, 11, 1)
OCT = date(2023, 10, 1)
SEP = date(2023, 9, 1)
FOUND_AT = datetime(2023, 12, 2, 6, 0, tzinfo=UTC)
QUERY = '{"group_by":["ResourceId","ext:x_UsageType"]}'


def ctx(period: str = "2023-11", tenant: str = "acme") -> RecommendContext:
    return RecommendContext(tenant=tenant, period=period, query=QUERY, found_at=FOUND_AT)


def row(
    resource_id: str,
    usage_detail: str,
    quantity: str | int,
    cost: str,
    *,
    list_cost: str | None = None,
    month: date = NOV,
    **overrides: Any,
) -> UsageRow:
    """An on-demand AWS usage row of November 2023 in account 123456789012 (override anything)."""
    base: dict[str, Any] = {
        "month": month,
        "provider": "aws",
        "billing_account_id": "123456789012",
        "sub_account_id": "123456789012",
        "resource_id": resource_id,
        "service_name": "Amazon Elastic Compute Cloud",
        "service_category": "Compute",
        "region_id": "us-east-1",
        "charge_category": "Usage",
        "pricing_category": "Standard",
        "usage_detail": usage_detail,
        "operation": "",
        "product_code": "AmazonEC2",
        "consumed_quantity": Decimal(quantity),
        "pricing_quantity": Decimal(quantity),
        "effective_cost": Decimal(cost),
        "list_cost": Decimal(list_cost if list_cost is not None else cost),
        "billed_cost": Decimal(cost),
        "currency": "USD",
    }
    base.update(overrides)
    return UsageRow(**base)


def only(recs: list[Recommendation]) -> Recommendation:
    assert len(recs) == 1, [(r.kind, r.resource_id, r.monthly_savings) for r in recs]
    return recs[0]
