"""What the recommenders read: typed usage rows, and the context of one run.

A :class:`UsageRow` is one aggregate of a tenant's FOCUS rows: one billing month (the
month of ``ChargePeriodStart``), one resource, one usage detail (AWS ``x_UsageType`` such
as ``EBS:VolumeUsage.gp2``, else the FOCUS ``SkuMeter``), with its quantities and costs
summed. Text columns that are null in FOCUS are ``''`` here; quantities and money are
:class:`~decimal.Decimal` (a float is refused with TypeError).

Pure: no I/O. Building rows from ClickHouse is the job of
:mod:`cloudops.sinks.recommend_input`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal

from cloudops.settings import validate_tenant

__all__ = ["MONEY_FIELDS", "RecommendContext", "UsageRow", "month_label", "parse_month"]

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")

MONEY_FIELDS = ("consumed_quantity", "pricing_quantity", "effective_cost", "list_cost", "billed_cost")


def parse_month(label: str) -> date:
    """``'2023-11'`` -> ``date(2023, 11, 1)``; ValueError for anything else."""
    m = _MONTH.fullmatch(label)
    if not m:
        raise ValueError(f"invalid billing month {label!r}: expected YYYY-MM")
    return date(int(m.group(1)), int(m.group(2)), 1)


def month_label(month: date) -> str:
    """``date(2023, 11, 1)`` -> ``'2023-11'``."""
    return f"{month.year:04d}-{month.month:02d}"


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageRow:
    """One (billing month, resource, usage detail) aggregate of a tenant's FOCUS rows."""

    month: date  # first day of the month of ChargePeriodStart
    provider: str  # cloudops provider id (x_Provider): aws, azure, gcp, oci, alibaba
    billing_account_id: str = ""
    sub_account_id: str = ""
    resource_id: str = ""
    resource_name: str = ""
    resource_type: str = ""
    service_name: str = ""
    service_category: str = ""
    region_id: str = ""
    charge_category: str = ""  # Usage, Purchase, Tax, Credit, Adjustment
    pricing_category: str = ""  # Standard, Committed, Dynamic, Other
    commitment_discount_id: str = ""
    commitment_discount_status: str = ""  # Used, Unused
    commitment_discount_type: str = ""
    usage_detail: str = ""  # AWS x_UsageType, else SkuMeter
    operation: str = ""  # AWS x_Operation
    product_code: str = ""  # x_ProductCode
    sku_id: str = ""
    pricing_unit: str = ""
    consumed_quantity: Decimal = Decimal(0)
    consumed_unit: str = ""
    pricing_quantity: Decimal = Decimal(0)
    effective_cost: Decimal = Decimal(0)
    list_cost: Decimal = Decimal(0)
    billed_cost: Decimal = Decimal(0)
    currency: str = ""

    def __post_init__(self) -> None:
        for name in MONEY_FIELDS:
            if not isinstance(getattr(self, name), Decimal):
                raise TypeError(f"UsageRow.{name} must be a Decimal, got {type(getattr(self, name)).__name__}")
        if not isinstance(self.month, date) or self.month.day != 1:
            raise ValueError(f"UsageRow.month must be the first day of a month, got {self.month!r}")

    @property
    def quantity(self) -> Decimal:
        """The usage amount: PricingQuantity when the bill has one, else ConsumedQuantity."""
        return self.pricing_quantity if self.pricing_quantity else self.consumed_quantity

    def as_evidence(self) -> dict[str, str]:
        """Every field as text (Decimal in plain notation, month as ``YYYY-MM``), for Evidence rows."""
        out: dict[str, str] = {}
        for name in _FIELD_NAMES:
            value = getattr(self, name)
            if isinstance(value, Decimal):
                out[name] = format(value.normalize(), "f") if value else "0"
            elif isinstance(value, date):
                out[name] = month_label(value)
            else:
                out[name] = str(value)
        return out


_FIELD_NAMES = tuple(f.name for f in fields(UsageRow))


@dataclass(frozen=True, slots=True)
class RecommendContext:
    """One recommender run: whose rows, which billing month they are judged on, which query fetched them.

    ``period`` is the month the savings are estimated from (``YYYY-MM``); rows of earlier
    months are history (used only for trends, e.g. log storage growth). ``found_at``
    stamps every Recommendation of the run (``None``: the current time). Raises
    ValueError for an invalid tenant id or period.
    """

    tenant: str
    period: str
    query: str
    found_at: datetime | None = None

    def __post_init__(self) -> None:
        validate_tenant(self.tenant)
        parse_month(self.period)

    @property
    def month(self) -> date:
        return parse_month(self.period)
