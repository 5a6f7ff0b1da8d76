"""Value schema of the ``recommendations`` topic (schema_version 1), shared by recommenders,
the Terraform proposer, the lifecycle store and the PR bot.

A recommendation names one cloud resource, what to change on it and what that saves per
month, computed from the tenant's own FOCUS costs (EffectiveCost). ``changes`` lists the
Terraform argument edits; an empty tuple means report-only (e.g. unused commitments).
Money travels as decimal strings.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

__all__ = [
    "AttributeChange",
    "Confidence",
    "Evidence",
    "PriceLine",
    "Recommendation",
    "RecommendationState",
    "Risk",
    "fingerprint_for",
]

Confidence = Literal["high", "medium", "low"]
Risk = Literal["none", "restart", "replacement", "data_loss"]
RecommendationState = Literal["open", "pr_open", "merged", "dismissed", "superseded", "expired"]


def _now() -> datetime:
    return datetime.now(UTC)


def fingerprint_for(tenant: str, kind: str, resource_id: str, proposed: dict[str, str]) -> str:
    """Stable identity of a recommendation: same tenant, recommender, resource and target -> same id."""
    target = "\x1e".join(f"{k}={v}" for k, v in sorted(proposed.items()))
    raw = "\x1f".join([tenant, kind, resource_id, target]).encode()
    return hashlib.sha256(raw).hexdigest()[:24]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AttributeChange(_Record):
    """One Terraform argument edit on the resource's block: ``attribute = current`` -> ``proposed``."""

    attribute: str = Field(description="Argument name in the resource block, e.g. `type` or `instance_type`.")
    current: str | None = Field(description="Value the bill shows today (unquoted); None when the argument is unset.")
    proposed: str = Field(description="New value (unquoted string, or a number as text).")
    value_kind: Literal["string", "number", "bool"] = Field("string", description="How to write the value in HCL.")


class Evidence(_Record):
    """Why: the analytics query that was run and the rows of this resource it returned."""

    query: str = Field(description="The normalised analytics query (JSON) whose rows back this recommendation.")
    rows: tuple[dict[str, str], ...] = Field(description="The resource's rows, every value as text.")
    command: str = Field("", description="A `cloudops query cost` command that reproduces the rows.")


class PriceLine(_Record):
    """One line of a cost table: ``unit_price`` x ``quantity`` = ``monthly_cost`` for one side of the change."""

    side: Literal["current", "proposed"]
    item: str = Field(description="What is priced, e.g. `gp2 storage` or `gp3 throughput above 125 MiB/s`.")
    unit_price: Decimal = Field(description="Public list price per unit (the price table's value).")
    quantity: Decimal = Field(description="Billed quantity of the month (or the provisioned amount proposed).")
    unit: str = Field(description="Unit of the quantity, e.g. `GB-Mo`, `Hrs`, `IOPS-Mo`.")
    monthly_cost: Decimal = Field(description="unit_price x quantity (list price, before the tenant's discounts).")
    currency: str = Field("USD", description="Currency of the price table.")
    source: str = Field(description="The public price page the price was read from.")
    as_of: str = Field(description="When the price was read (`YYYY-MM` or `YYYY-MM-DD`).")
    price_region: str = Field(description="Region of the price table, e.g. `us-east-1`.")
    resource_region: str = Field("", description="Region of the billed resource (FOCUS RegionId); '' when unknown.")

    @property
    def region_matches(self) -> bool:
        return bool(self.resource_region) and self.resource_region.lower() == self.price_region.lower()

    @field_serializer("unit_price", "quantity", "monthly_cost")
    def _dec(self, v: Decimal) -> str:
        return str(v)


class Recommendation(_Record):
    """`recommendations`: one savings opportunity for one resource."""

    schema_version: Literal[1] = 1
    tenant: str
    kind: str = Field(description="Recommender id, e.g. `aws-ebs-gp2-to-gp3`.")
    provider: str = Field(description="`aws`, `azure`, `gcp`, `oci` or `alibaba`.")
    resource_id: str = Field(description="Cloud resource id as in FOCUS ResourceId (ARN, volume id, ...).")
    resource_type: str | None = Field(
        None, description="Terraform resource type that manages it, e.g. `aws_ebs_volume`; None when report-only."
    )
    title: str = Field(description="One line, e.g. `Move EBS volume vol-0abc from gp2 to gp3`.")
    current: dict[str, str] = Field(description="Current configuration as the bill shows it.")
    proposed: dict[str, str] = Field(description="Proposed configuration.")
    changes: tuple[AttributeChange, ...] = Field((), description="Terraform argument edits; empty = report-only.")
    monthly_savings: Decimal = Field(description="Estimated savings per month from the tenant's EffectiveCost.")
    currency: str
    confidence: Confidence
    risk: Risk = Field(
        description="`restart`: applying restarts the resource; `replacement`: recreates it; "
        "`data_loss`: applying deletes data for good (irreversible)."
    )
    risk_note: str = Field("", description="What the risk means for this resource, in a sentence.")
    confidence_reasons: tuple[str, ...] = Field((), description="Why the confidence is what it is (facts used).")
    risk_basis: tuple[str, ...] = Field((), description="The facts the risk class is based on.")
    prices: tuple[PriceLine, ...] = Field((), description="Cost table: current and proposed price x quantity.")
    basis_cost: Decimal | None = Field(
        None, description="The tenant's own EffectiveCost of the priced usage; the saving is a share of it."
    )
    irreversible: bool = Field(False, description="True when a rollback cannot restore what applying removes.")
    rollback_note: str = Field("", description="What a rollback does and does not restore, in a sentence.")
    evidence: Evidence
    period: str = Field(description="Billing month(s) the estimate is based on, e.g. `2023-11`.")
    found_at: datetime = Field(default_factory=_now)

    @property
    def fingerprint(self) -> str:
        return fingerprint_for(self.tenant, self.kind, self.resource_id, self.proposed)

    @property
    def yearly_savings(self) -> Decimal:
        return self.monthly_savings * 12

    @property
    def terraform_addressable(self) -> bool:
        """True when the recommendation has argument edits for a Terraform-managed resource type."""
        return bool(self.changes) and self.resource_type is not None

    @field_serializer("monthly_savings")
    def _money(self, v: Decimal) -> str:
        return str(v)

    @field_serializer("basis_cost")
    def _basis(self, v: Decimal | None) -> str | None:
        return None if v is None else str(v)
