"""Every topic, declared once: name, value schema and version, key, content type, DLQ twin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from cloudops.schemas.events import BillingFile, BillingLoaded, DeadLetter, FocusBatchEnvelope, PeriodSwapped
from cloudops.schemas.recommendations import Recommendation

__all__ = [
    "ALL_TOPICS",
    "BILLING_FILES",
    "BILLING_LOADED",
    "BILLING_PERIODS",
    "FOCUS_BATCHES",
    "RECOMMENDATIONS",
    "TopicSpec",
    "dlq_name",
    "json_schemas",
]


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    model: type[BaseModel]
    version: int
    key: str
    content_type: str
    description: str
    retry: bool = False

    @property
    def dlq(self) -> str:
        """Name of the dead-letter twin."""
        return dlq_name(self.name)

    @property
    def retry_topic(self) -> str | None:
        """Name of the retry topic (transient failures wait there with backoff), if the topic has one."""
        return f"{self.name}.retry" if self.retry else None

    @property
    def names(self) -> tuple[str, ...]:
        """The topic, its retry topic (if any) and its DLQ."""
        return (self.name, *((self.retry_topic,) if self.retry_topic else ()), self.dlq)


def dlq_name(topic: str) -> str:
    """``billing-files`` -> ``billing-files.dlq``."""
    return f"{topic}.dlq"


BILLING_FILES = TopicSpec(
    name="billing-files",
    model=BillingFile,
    version=1,
    key="file id (UTF-8 hex): one object version always lands on one partition",
    content_type="application/json",
    description="A billing object was created or changed and should be ingested.",
    retry=True,
)
FOCUS_BATCHES = TopicSpec(
    name="focus-batches",
    model=FocusBatchEnvelope,
    version=1,
    key="file id: every batch of a file, then its end record, in order on one partition",
    content_type="application/vnd.apache.arrow.stream",
    description=(
        "FOCUS rows as an Arrow IPC stream (zstd-compressed buffers); the envelope is the JSON "
        "header `cloudops-envelope`. A file ends with one `kind=end` record carrying its totals."
    ),
)
BILLING_LOADED = TopicSpec(
    name="billing-loaded",
    model=BillingLoaded,
    version=1,
    key="file id",
    content_type="application/json",
    description="Receipt per file: rows in / landed / rejected and cost totals, counted in ClickHouse.",
)
BILLING_PERIODS = TopicSpec(
    name="billing-periods",
    model=PeriodSwapped,
    version=1,
    key="source id / billing month (e.g. `cur/2023-11`)",
    content_type="application/json",
    description=(
        "A version of a billing period (e.g. an AWS CUR assembly) was swapped in atomically: queries now see "
        "exactly this version of the period."
    ),
)
RECOMMENDATIONS = TopicSpec(
    name="recommendations",
    model=Recommendation,
    version=1,
    key="recommendation fingerprint (tenant, recommender, resource, target): one resource's advice stays in order",
    content_type="application/json",
    description=(
        "A savings opportunity found in a tenant's FOCUS costs after a load, with the evidence; the propose "
        "agent turns Terraform-addressable ones into pull requests."
    ),
)
ALL_TOPICS: tuple[TopicSpec, ...] = (BILLING_FILES, FOCUS_BATCHES, BILLING_LOADED, BILLING_PERIODS, RECOMMENDATIONS)


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema for every topic value and its DLQ twin."""
    out: dict[str, dict[str, Any]] = {}
    for spec in ALL_TOPICS:
        schema = spec.model.model_json_schema(mode="serialization")
        schema["$id"] = f"urn:cloudops:topic:{spec.name}:v{spec.version}"
        schema["title"] = f"{spec.name} v{spec.version}"
        schema["description"] = f"{spec.description} Key: {spec.key}. Content type: {spec.content_type}."
        out[f"{spec.name}.v{spec.version}.schema.json"] = schema
        dlq = DeadLetter.model_json_schema(mode="serialization")
        dlq["$id"] = f"urn:cloudops:topic:{spec.dlq}:v1"
        dlq["title"] = f"{spec.dlq} v1"
        dlq["description"] = f"Dead letters of {spec.name}: original bytes, position, error kind and reason."
        out[f"{spec.dlq}.v1.schema.json"] = dlq
    return out
