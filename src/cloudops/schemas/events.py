"""Value schemas of the topics (schema_version 1).

Money travels as decimal strings (JSON numbers would lose cents); times are UTC.
Records are immutable and carry their ``schema_version`` so consumers can branch.
Within a version, changes are additive and backward-compatible: a field added later is
optional with a default, so records written before it still decode (v1.1 added the
``warnings`` of ``billing-loaded`` receipts and of ``focus-batches`` end records).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from cloudops.schemas.money import decimal_text

__all__ = [
    "BillingFile",
    "BillingLoaded",
    "ColumnWarning",
    "DeadLetter",
    "FocusBatchEnvelope",
    "FocusDataset",
    "PeriodSwapped",
    "Provider",
    "RejectedRow",
    "Trigger",
    "file_id_for",
]

Provider = Literal["aws", "azure", "gcp", "oci", "alibaba", "focus"]
# "s3-event": an S3 ObjectCreated notification; "azure-event": an Event Grid BlobCreated event read from
# an Azure Storage Queue (added within v1: older records still decode; before it, Azure events said "s3-event").
Trigger = Literal["s3-event", "azure-event", "schedule", "manual"]
FocusDataset = Literal["CostAndUsage", "ContractCommitment", "BillingPeriod", "InvoiceDetail"]


def _now() -> datetime:
    return datetime.now(UTC)


def file_id_for(
    tenant: str, url: str, etag: str | None, version_id: str | None, period_version: str | None = None
) -> str:
    """Deterministic identity of one version of one billing object (hex, 32 chars).

    The same object version always gets the same id, whichever trigger saw it, so
    every downstream write keyed by it is idempotent. A data file listed by a period
    manifest is identified within that period version (the same object listed by two
    versions is loaded into each).
    """
    parts = [tenant, url, etag or "", version_id or ""]
    if period_version:
        parts.append(period_version)
    raw = "\x1f".join(parts).encode()
    return hashlib.sha256(raw).hexdigest()[:32]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BillingFile(_Record):
    """`billing-files`: a billing object was created or changed and should be ingested."""

    schema_version: Literal[1] = 1
    tenant: str = Field(description="Tenant that owns the object.")
    provider_hint: Provider | None = Field(
        None, description="Provider if known; the format is always detected from the file's header."
    )
    url: str = Field(description="`s3://bucket/key` or `file:///abs/path`.")
    bucket: str | None = Field(None, description="Bucket name for object-store URLs.")
    key: str = Field(description="Object key (decoded) or local path.")
    etag: str | None = Field(None, description="Object ETag without quotes, if known.")
    version_id: str | None = Field(None, description="Object version id, if the bucket is versioned.")
    size: int | None = Field(None, ge=0, description="Object size in bytes, if known.")
    event_time: datetime = Field(default_factory=_now, description="When the object was created (UTC).")
    trigger: Trigger = Field(
        description="What announced the object: an object-store event (S3, Azure), the schedule, or a user."
    )
    source_id: str | None = Field(
        None, description="Billing source (control plane) the object belongs to, if known; else resolved by bucket/key."
    )
    period: date | None = Field(
        None, description="Billing month (first day) when the file belongs to a manifest-defined period version."
    )
    period_version: str | None = Field(
        None, description="Period version (e.g. AWS assembly id) whose manifest lists this file; staged until swapped."
    )

    @property
    def file_id(self) -> str:
        """Identity of this object version (see :func:`file_id_for`)."""
        return file_id_for(self.tenant, self.url, self.etag, self.version_id, self.period_version)


class ColumnWarning(_Record):
    """A data-quality warning: values of one FOCUS column that could not be read were left null.

    The rows themselves landed: FOCUS does not make the column mandatory for them (a row is
    rejected only when a mandatory field or a cost cannot be read). One warning per FOCUS
    column, source column and reason; ``rows`` counts the FOCUS rows affected.
    """

    column: str = Field(description="FOCUS column left null, e.g. `ContractedUnitPrice`.")
    source: str = Field(description="Source column the value was read from (or the rule, when computed).")
    reason: str = Field(description="Why the value could not be read, e.g. `not a valid decimal value`.")
    rows: int = Field(ge=1, description="FOCUS rows whose value was left null.")
    sample: str | None = Field(None, description="One of the unreadable values, as read (at most 60 characters).")


class FocusBatchEnvelope(_Record):
    """`focus-batches` envelope (Kafka header ``cloudops-envelope``; value = Arrow IPC stream).

    A file produces ``kind="rows"`` batches numbered from 0, then exactly one
    ``kind="end"`` record (empty value) with the file's totals. All records of a file
    share its key (the file id), so they stay in order on one partition.
    """

    schema_version: Literal[1] = 1
    kind: Literal["rows", "end"]
    tenant: str
    file_id: str
    file_url: str
    format: str = Field(description="Detected format id, e.g. `aws-cur`.")
    dataset: FocusDataset = Field(
        "CostAndUsage",
        description="FOCUS dataset of the rows: CostAndUsage (table `focus`) or a supporting dataset with its "
        "own table (ContractCommitment, BillingPeriod, InvoiceDetail). Absent in older records: CostAndUsage.",
    )
    seq: int = Field(ge=0, description="Batch sequence within the file (the end record's seq = batches).")
    batch_id: str = Field(description="Deterministic id: the ClickHouse insert deduplication token.")
    row_start: int = Field(ge=0, description="First source data row (0-based) covered by this record.")
    row_end: int = Field(ge=0, description="One past the last source data row covered.")
    row_count: int = Field(ge=0, description="FOCUS rows in this batch (0 for the end record).")
    cost_totals: dict[str, Decimal] = Field(
        default_factory=dict, description="BilledCost per BillingCurrency in this batch (end: whole file)."
    )
    rows_in: int | None = Field(None, description="end only: data rows read from the file.")
    rows_rejected: int | None = Field(None, description="end only: rows rejected (sent to the DLQ).")
    focus_rows: int | None = Field(
        None, description="end only: FOCUS rows published (more than source rows when credits are exploded)."
    )
    source_totals: dict[str, Decimal] | None = Field(
        None, description="end only: the source cost column summed per currency, all rows."
    )
    rejected_totals: dict[str, Decimal] | None = Field(
        None, description="end only: source cost of rejected rows whose cost was readable."
    )
    status: Literal["complete", "aborted"] = Field(
        "complete", description="end only: `aborted` when the file failed part-way; its rows are removed."
    )
    reason: str | None = Field(None, description="end only: why the file was aborted.")
    warnings: list[ColumnWarning] | None = Field(
        None, description="end only: optional values left null because they could not be read (added in v1.1)."
    )
    source_id: str | None = Field(None, description="Billing source id (written to x_Source), if known.")
    object_time: datetime | None = Field(
        None, description="end only: when the billing object was created (for end-to-end latency)."
    )
    period: date | None = Field(None, description="Billing month of the period version the file belongs to.")
    period_version: str | None = Field(
        None, description="Period version: rows are staged in focus_pending until the version is swapped in."
    )

    @field_serializer("cost_totals", "source_totals", "rejected_totals")
    def _money(self, v: dict[str, Decimal] | None) -> dict[str, str] | None:
        return None if v is None else {k: decimal_text(x) for k, x in v.items()}


class BillingLoaded(_Record):
    """`billing-loaded`: receipt for one file, measured from ClickHouse after the load."""

    schema_version: Literal[1] = 1
    tenant: str
    file_id: str
    file_url: str
    format: str
    rows_in: int = Field(description="Data rows read from the file.")
    rows_rejected: int = Field(description="Rows rejected by the parser (in the DLQ with reasons).")
    rows_landed: int = Field(description="Source rows of this file represented in ClickHouse, counted there.")
    focus_rows_landed: int = Field(0, description="FOCUS rows of this file in ClickHouse, counted there.")
    batches: int = Field(description="FOCUS batches the file was split into.")
    source_totals: dict[str, Decimal] = Field(description="Source cost column per currency, all rows.")
    rejected_totals: dict[str, Decimal] = Field(description="Source cost of rejected rows per currency.")
    landed_totals: dict[str, Decimal] = Field(description="sum(BilledCost) in ClickHouse per currency.")
    status: Literal["complete", "aborted"] = Field("complete", description="`aborted`: nothing of the file landed.")
    source_id: str | None = Field(None, description="Billing source id, if known.")
    period: date | None = Field(None, description="Billing month of the file's period version, if any.")
    period_version: str | None = Field(
        None, description="Set when the file was staged: its rows become visible when the version is swapped in."
    )
    reconciled: bool = Field(
        description=(
            "rows_in == rows_landed + rows_rejected, FOCUS rows landed == FOCUS rows published, and "
            "per currency source == landed + rejected cost, exactly."
        )
    )
    warnings: list[ColumnWarning] = Field(
        default_factory=list,
        description=(
            "Data-quality warnings per FOCUS column: optional values that could not be read and landed "
            "as null (added in v1.1; absent in older receipts, read as none)."
        ),
    )
    loaded_at: datetime = Field(default_factory=_now)

    @field_serializer("source_totals", "rejected_totals", "landed_totals")
    def _money(self, v: dict[str, Decimal]) -> dict[str, str]:
        return {k: decimal_text(x) for k, x in v.items()}


class RejectedRow(_Record):
    """A source row the converter could not turn into FOCUS, with the reason."""

    row_number: int = Field(description="0-based data row number in the file (-1 if unknown).")
    reason: str
    raw: str = Field(description="The row as read (CSV text or JSON of its fields).")


class DeadLetter(_Record):
    """`<topic>.dlq`: a record that could not be processed, with everything needed to replay it."""

    schema_version: Literal[1] = 1
    source_topic: str
    partition: int | None = None
    offset: int | None = None
    key_b64: str | None = Field(None, description="Original key bytes, base64.")
    value_b64: str | None = Field(None, description="Original value bytes, base64.")
    headers_b64: dict[str, str] | None = Field(None, description="Original headers (name -> value bytes, base64).")
    error_kind: Literal["bad_data", "transient", "bug"]
    reason: str
    attempts: int = 1
    app_version: str
    failed_at: datetime = Field(default_factory=_now)
    tenant: str | None = None
    file_id: str | None = None
    file_url: str | None = None
    rejected_row: RejectedRow | None = Field(None, description="For a rejected row: the row and reason.")

    @staticmethod
    def b64(data: bytes | None) -> str | None:
        """Encode original bytes for the record."""
        return None if data is None else base64.b64encode(data).decode()


class PeriodSwapped(_Record):
    """`billing-periods`: a version of a billing period became the one queries see (atomically)."""

    schema_version: Literal[1] = 1
    tenant: str
    source_id: str
    period: date = Field(description="Billing month (first day).")
    period_version: str = Field(description="Version swapped in, e.g. the AWS CUR assembly id.")
    replaced_version: str | None = Field(None, description="Version it replaced, if one was live.")
    files: int = Field(description="Data files of the version, all loaded and reconciled.")
    rows_landed: int = Field(description="FOCUS rows of the period now visible.")
    landed_totals: dict[str, Decimal] = Field(description="sum(BilledCost) per currency now visible.")
    swapped_at: datetime = Field(default_factory=_now)

    @field_serializer("landed_totals")
    def _money(self, v: dict[str, Decimal]) -> dict[str, str]:
        return {k: decimal_text(x) for k, x in v.items()}
