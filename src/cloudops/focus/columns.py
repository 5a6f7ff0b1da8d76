"""The FOCUS Cost and Usage columns cloudops stores (FOCUS 1.3; 1.2 output is a subset).

Each column has a kind that fixes its Arrow and ClickHouse type:

* ``decimal`` - money and quantities: Arrow decimal128(38, 10), ClickHouse Decimal(38, 10)
* ``datetime`` - UTC instants: Arrow timestamp[us, UTC], ClickHouse DateTime64(6, 'UTC')
* ``dimension`` - low-cardinality strings (LowCardinality in ClickHouse)
* ``string`` - high-cardinality strings (ids, descriptions)
* ``json`` - a JSON object kept as text (Tags, SkuPriceDetails, ContractApplied, AllocatedTags, ...)
* ``integer`` - cloudops bookkeeping numbers (Int64)

``nullable=False`` columns are mandatory and never null in FOCUS; a source row that
cannot fill one is rejected with a reason.

FOCUS 1.3 (ratified 4 December 2025) added ServiceProviderName and HostProviderName (which
supersede the deprecated ProviderName and PublisherName; cloudops keeps filling both for 1.2
readers), ContractApplied (the link to the Contract Commitment dataset) and the split cost
allocation columns AllocatedMethodId, AllocatedMethodDetails, AllocatedResourceId,
AllocatedResourceName and AllocatedTags. Types and nullability: FOCUS specification
(FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec, ``specification/datasets/cost_and_usage/columns/*.md``,
CC-BY-4.0). :func:`columns_for_version` gives the columns of one FOCUS version (``--focus-version``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

__all__ = [
    "DECIMAL",
    "EXTENSION_COLUMNS",
    "FOCUS_COLUMNS",
    "FOCUS_VERSION",
    "FOCUS_VERSIONS",
    "TIMESTAMP",
    "ColumnKind",
    "FocusColumn",
    "column_by_name",
    "columns_for_version",
    "focus_arrow_schema",
    "version_key",
]

FOCUS_VERSION = "1.3"  # the version cloudops writes by default
FOCUS_VERSIONS = ("1.2", "1.3")  # versions `cloudops convert --focus-version` can write
ColumnKind = Literal["decimal", "datetime", "dimension", "string", "json", "integer"]
DECIMAL = pa.decimal128(38, 10)
TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True, slots=True)
class FocusColumn:
    """One FOCUS column: name, kind, whether it may be null, and the FOCUS version that added it."""

    name: str
    kind: ColumnKind
    nullable: bool = True
    since: str = "1.0"

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type used on the wire and in Parquet output."""
        if self.kind == "decimal":
            return DECIMAL
        if self.kind == "datetime":
            return TIMESTAMP
        if self.kind == "integer":
            return pa.int64()
        return pa.string()


def _c(name: str, kind: ColumnKind, nullable: bool = True, since: str = "1.0") -> FocusColumn:
    return FocusColumn(name, kind, nullable, since)


FOCUS_COLUMNS: tuple[FocusColumn, ...] = (
    _c("AvailabilityZone", "dimension"),
    _c("BilledCost", "decimal", nullable=False),
    _c("BillingAccountId", "dimension", nullable=False),
    _c("BillingAccountName", "dimension"),
    _c("BillingAccountType", "dimension", since="1.2"),
    _c("BillingCurrency", "dimension", nullable=False),
    _c("BillingPeriodEnd", "datetime", nullable=False),
    _c("BillingPeriodStart", "datetime", nullable=False),
    _c("CapacityReservationId", "string", since="1.1"),
    _c("CapacityReservationStatus", "dimension", since="1.1"),
    _c("ChargeCategory", "dimension", nullable=False),
    _c("ChargeClass", "dimension"),
    _c("ChargeDescription", "string"),
    _c("ChargeFrequency", "dimension"),
    _c("ChargePeriodEnd", "datetime", nullable=False),
    _c("ChargePeriodStart", "datetime", nullable=False),
    _c("CommitmentDiscountCategory", "dimension"),
    _c("CommitmentDiscountId", "string"),
    _c("CommitmentDiscountName", "string"),
    _c("CommitmentDiscountQuantity", "decimal", since="1.1"),
    _c("CommitmentDiscountStatus", "dimension"),
    _c("CommitmentDiscountType", "dimension"),
    _c("CommitmentDiscountUnit", "dimension", since="1.1"),
    _c("ConsumedQuantity", "decimal"),
    _c("ConsumedUnit", "dimension"),
    _c("ContractedCost", "decimal", nullable=False),
    _c("ContractedUnitPrice", "decimal"),
    _c("EffectiveCost", "decimal", nullable=False),
    _c("InvoiceId", "string", since="1.2"),
    _c("InvoiceIssuerName", "dimension", nullable=False),
    _c("ListCost", "decimal", nullable=False),
    _c("ListUnitPrice", "decimal"),
    _c("PricingCategory", "dimension"),
    _c("PricingCurrency", "dimension", since="1.2"),
    _c("PricingCurrencyContractedUnitPrice", "decimal", since="1.2"),
    _c("PricingCurrencyEffectiveCost", "decimal", since="1.2"),
    _c("PricingCurrencyListUnitPrice", "decimal", since="1.2"),
    _c("PricingQuantity", "decimal"),
    _c("PricingUnit", "dimension"),
    _c("ProviderName", "dimension", nullable=False),
    _c("PublisherName", "dimension", nullable=False),
    _c("RegionId", "dimension"),
    _c("RegionName", "dimension"),
    _c("ResourceId", "string"),
    _c("ResourceName", "string"),
    _c("ResourceType", "dimension"),
    _c("ServiceCategory", "dimension", nullable=False),
    _c("ServiceName", "dimension", nullable=False),
    _c("ServiceSubcategory", "dimension", since="1.1"),
    _c("SkuId", "string"),
    _c("SkuMeter", "string", since="1.1"),
    _c("SkuPriceDetails", "json", since="1.1"),
    _c("SkuPriceId", "string"),
    _c("SubAccountId", "dimension"),
    _c("SubAccountName", "dimension"),
    _c("SubAccountType", "dimension", since="1.2"),
    _c("Tags", "json"),
    # FOCUS 1.3 additions (appended, so ClickHouse keeps one column order across versions).
    _c("ServiceProviderName", "dimension", nullable=False, since="1.3"),  # mandatory in 1.3
    _c("HostProviderName", "dimension", since="1.3"),
    _c("AllocatedMethodId", "string", since="1.3"),
    _c("AllocatedMethodDetails", "json", since="1.3"),
    _c("AllocatedResourceId", "string", since="1.3"),
    _c("AllocatedResourceName", "string", since="1.3"),
    _c("AllocatedTags", "json", since="1.3"),
    _c("ContractApplied", "json", since="1.3"),
)

# Extension columns cloudops adds to every row (FOCUS allows `x_`-prefixed columns).
EXTENSION_COLUMNS: tuple[FocusColumn, ...] = (
    _c("x_Provider", "dimension", nullable=False),  # cloudops provider id: aws, azure, gcp, oci, alibaba
    _c("x_SourceFormat", "dimension", nullable=False),  # rules id that converted the row
    _c("x_FileId", "string", nullable=False),  # identity of the source object version
    _c("x_BatchId", "string", nullable=False),  # deterministic batch id (dedup token)
    _c("x_RowNumber", "integer", nullable=False),  # 0-based data row number in the source file
    _c("x_Extensions", "json"),  # provider-specific columns kept by the rules, JSON object
)

_BY_NAME = {c.name: c for c in FOCUS_COLUMNS + EXTENSION_COLUMNS}


def column_by_name(name: str) -> FocusColumn:
    """Look a column up by exact name; KeyError if it is not a known column."""
    return _BY_NAME[name]


def version_key(version: str) -> tuple[int, ...]:
    """``"1.2"`` -> ``(1, 2)``, for ordering FOCUS versions; ValueError if not dotted numbers."""
    return tuple(int(part) for part in version.split("."))


def columns_for_version(version: str = FOCUS_VERSION) -> tuple[FocusColumn, ...]:
    """The Cost and Usage columns of FOCUS ``version`` (those added in it or before), canonical order.

    Raises ValueError for a version cloudops cannot write (see ``FOCUS_VERSIONS``).
    """
    if version not in FOCUS_VERSIONS:
        raise ValueError(f"FOCUS version {version!r} is not supported; use one of {', '.join(FOCUS_VERSIONS)}")
    limit = version_key(version)
    return tuple(c for c in FOCUS_COLUMNS if version_key(c.since) <= limit)


def focus_arrow_schema(*, with_extensions: bool = True, version: str = FOCUS_VERSION) -> pa.Schema:
    """Arrow schema of a converted batch of FOCUS ``version``, in canonical column order."""
    cols = columns_for_version(version) + (EXTENSION_COLUMNS if with_extensions else ())
    return pa.schema([pa.field(c.name, c.arrow_type, nullable=c.nullable) for c in cols])
