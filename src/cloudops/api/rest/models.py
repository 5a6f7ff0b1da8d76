"""Wire models of the REST API (they make the OpenAPI 3.1 document). Money is a decimal string."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CostAnswerOut",
    "DeadLetterOut",
    "DismissIn",
    "FileOut",
    "FilePage",
    "PeriodOut",
    "PeriodPage",
    "PlanOut",
    "RecommendationOut",
    "RecommendationPage",
    "ReplayIn",
    "ReplayOut",
    "SnoozeIn",
    "SourceIn",
    "SourceOut",
    "SourcePage",
    "SourcePatch",
    "TenantIn",
    "TenantOut",
    "TenantPage",
    "TokenIn",
    "TokenIssuedOut",
    "TokenOut",
    "TokenPage",
]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TenantOut(_Out):
    id: str
    display_name: str
    state: str
    created_at: datetime
    state_changed_at: datetime | None = None
    purge_after: datetime | None = None
    reason: str | None = None


class TenantPage(BaseModel):
    items: list[TenantOut]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last.")


class TenantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="Tenant id: [a-z][a-z0-9_]{0,47}.")
    display_name: str | None = None


class SourceOut(_Out):
    id: str
    provider: str
    bucket: str
    prefix: str
    credentials_ref: str | None
    schedule_s: int | None
    enabled: bool
    layout: str
    endpoint_url: str | None = None
    region: str | None = None
    external_id: str | None = None
    kind: str = Field(
        description="Where the objects live: s3, azure-blob, gcs, bigquery, oci-object-storage, alibaba-oss."
    )


class SourcePage(BaseModel):
    items: list[SourceOut]
    next_cursor: str | None = None


class SourceIn(BaseModel):
    """A billing source: where the tenant's exports arrive. ``credentials_ref`` is a reference, never a secret."""

    model_config = ConfigDict(extra="forbid")
    id: str
    provider: Literal["aws", "azure", "gcp", "oci", "alibaba", "focus"]
    bucket: str
    prefix: str = ""
    credentials_ref: str | None = None
    external_id: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    schedule_s: int | None = Field(None, ge=60)
    layout: Literal["files", "manifest", "snapshot"] = "files"
    enabled: bool = True


class SourcePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: Literal["aws", "azure", "gcp", "oci", "alibaba", "focus"] | None = None
    bucket: str | None = None
    prefix: str | None = None
    credentials_ref: str | None = None
    external_id: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    schedule_s: int | None = Field(None, ge=60)
    layout: Literal["files", "manifest", "snapshot"] | None = None
    enabled: bool | None = None


class FileOut(_Out):
    file_id: str
    source_id: str
    object_key: str
    version: str
    url: str
    state: str
    triggers: list[str]
    attempts: int
    rows_in: int | None
    rows_landed: int | None
    rows_rejected: int | None
    source_totals: dict[str, str] | None = Field(description="Cost per currency in the file (decimal strings).")
    landed_totals: dict[str, str] | None = Field(description="Cost per currency landed in ClickHouse.")
    last_error: str | None
    first_seen_at: datetime
    updated_at: datetime
    period: date | None = None
    period_version: str | None = None


class FilePage(BaseModel):
    items: list[FileOut]
    next_cursor: str | None = None


class PeriodOut(_Out):
    source_id: str
    period: date
    version: str
    manifest_key: str
    delivered_at: datetime
    files: list[str]
    state: str
    rows_landed: int | None
    landed_totals: dict[str, str] | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    promoted_at: datetime | None


class PeriodPage(BaseModel):
    items: list[PeriodOut]
    next_cursor: str | None = None


class RecommendationOut(BaseModel):
    fingerprint: str
    kind: str
    resource_id: str
    provider: str
    resource_type: str | None
    state: str
    monthly_savings: Decimal
    currency: str
    period: str
    first_seen: datetime
    last_seen: datetime
    times_seen: int
    pr_number: int | None
    pr_url: str | None
    branch: str | None
    state_changed_at: datetime
    reason: str | None
    superseded_by: str | None
    detail: dict[str, Any] = Field(description="The Recommendation record: current/proposed, edits, evidence.")


class RecommendationPage(BaseModel):
    items: list[RecommendationOut]
    next_cursor: str | None = None


class DismissIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class SnoozeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)
    days: int = Field(ge=1, le=3650, description="Snoozed for this many days, then it may be proposed again.")


class CostAnswerOut(BaseModel):
    columns: list[str]
    rows: list[dict[str, Any]] = Field(description="One object per row; money and quantities as decimal strings.")
    data_version: int = Field(description="The tenant's data version this answer reflects (also the ETag).")
    cached: bool
    source: str = Field(description="The table that answered (a rollup, the raw table) or the cache.")
    seconds: float


class PlanOut(BaseModel):
    source: str
    reason: str
    sql: str
    parameters: dict[str, Any]
    columns: list[str]


class TokenOut(_Out):
    id: str
    tenant: str | None = Field(description="The tenant; null for a platform-admin token.")
    name: str
    scopes: list[str]
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    rate_limit_per_min: int | None


class TokenPage(BaseModel):
    items: list[TokenOut]
    next_cursor: str | None = None


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1)
    tenant: str | None = Field(
        None, description="Platform-admin callers only: the tenant of the new token (null: another platform token)."
    )
    expires: str = Field("90d", description="30d, 12h, 2w, an ISO date/time, or never.")
    rate_limit_per_min: int | None = Field(None, ge=1)


class TokenIssuedOut(BaseModel):
    token: TokenOut
    secret: str = Field(description="The whole token: shown this once, store it now.")


class DeadLetterOut(BaseModel):
    position: str = Field(description="topic:partition:offset")
    topic: str
    source_topic: str
    failed_at: datetime
    error_kind: str
    attempts: int
    tenant: str | None
    file_url: str | None
    reason: str
    replayable: bool
    detail: dict[str, Any] | None = Field(None, description="The whole dead letter (show only).")


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    positions: list[str] = Field(min_length=1, max_length=1000)
    dry_run: bool = False


class ReplayOut(BaseModel):
    replayed: list[str]
    skipped: list[str]
    dry_run: bool
