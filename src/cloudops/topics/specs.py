"""Every topic, declared once: name, value schema and version, key, headers, content type, DLQ twin.

The event API is published from these declarations (``cloudops topics schema``, ``make schemas``):
a JSON Schema (draft-07) per topic value and per DLQ twin, and an AsyncAPI 3.0 document
(``asyncapi.yaml``) naming every topic, its key, its headers and its retry and DLQ twins, whose
payloads ``$ref`` those JSON Schemas. The files are committed under ``schemas/`` and a unit test
fails when they drift from the code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from cloudops import __version__
from cloudops.schemas.events import BillingFile, BillingLoaded, DeadLetter, FocusBatchEnvelope, PeriodSwapped
from cloudops.schemas.recommendations import Recommendation
from cloudops.settings import KafkaSettings
from cloudops.topics.codec import ENVELOPE_HEADER

__all__ = [
    "ALL_TOPICS",
    "ASYNCAPI_FILE",
    "BILLING_FILES",
    "BILLING_LOADED",
    "BILLING_PERIODS",
    "FOCUS_BATCHES",
    "JSON_SCHEMA_FORMAT",
    "RECOMMENDATIONS",
    "REPLAYED_FROM_HEADER",
    "RETRY_AT_HEADER",
    "RETRY_ROUND_HEADER",
    "HeaderSpec",
    "TopicSpec",
    "asyncapi_document",
    "dlq_name",
    "json_schemas",
    "write_schemas",
]

ASYNCAPI_FILE = "asyncapi.yaml"
# Draft-07 rather than pydantic's default 2020-12 dialect: it is the JSON Schema version every
# AsyncAPI 3.0 tool must support. The models use only keywords both drafts read the same way.
_DRAFT_07 = "http://json-schema.org/draft-07/schema#"
JSON_SCHEMA_FORMAT = "application/schema+json;version=draft-07"
_KAFKA_BINDING = "0.5.0"

RETRY_ROUND_HEADER = "cloudops-retry-round"
RETRY_AT_HEADER = "cloudops-retry-at"
REPLAYED_FROM_HEADER = "cloudops-replayed-from"


@dataclass(frozen=True, slots=True)
class HeaderSpec:
    """A record header cloudops writes: its name, what its bytes hold, and whether every record has it."""

    name: str
    description: str
    required: bool = False
    content_type: str = "text/plain"
    schema_file: str | None = None  # the committed JSON Schema a JSON header value validates against


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    model: type[BaseModel]
    version: int
    key: str
    content_type: str
    description: str
    retry: bool = False
    headers: tuple[HeaderSpec, ...] = ()

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

    @property
    def schema_file(self) -> str:
        """File name of the JSON Schema of the topic's model (its value, or its envelope header)."""
        return f"{self.name}.v{self.version}.schema.json"

    @property
    def dlq_schema_file(self) -> str:
        return f"{self.dlq}.v1.schema.json"


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
    headers=(
        HeaderSpec(
            ENVELOPE_HEADER,
            "The batch's envelope (tenant, file, sequence number, row range, totals) as UTF-8 JSON.",
            required=True,
            content_type="application/json",
            schema_file="focus-batches.v1.schema.json",
        ),
        HeaderSpec(
            "content-type",
            "`application/vnd.apache.arrow.stream` on `kind=rows` records; absent on the (empty) end record.",
        ),
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

_RETRY_HEADERS = (
    HeaderSpec(RETRY_ROUND_HEADER, "Which retry round this is (ASCII decimal, from 2).", required=True),
    HeaderSpec(
        RETRY_AT_HEADER,
        "When the round is due (Unix seconds, ASCII decimal with 3 decimals); the consumer waits until then.",
        required=True,
    ),
)
_REPLAYED_HEADER = HeaderSpec(
    REPLAYED_FROM_HEADER,
    "Only on a record replayed from a DLQ by `cloudops dlq replay`: the dead letter's `topic:partition:offset` "
    "(the record's original headers are replayed too).",
)
_DLQ_KEY = "file id when known, else the failed record's key (UTF-8, undecodable bytes replaced)"


def _draft07(model: type[BaseModel], *, id_: str, title: str, description: str) -> dict[str, Any]:
    """The model's serialisation schema as draft-07 (``definitions``), with our id, title and description."""
    schema = model.model_json_schema(mode="serialization", ref_template="#/definitions/{model}")
    defs = schema.pop("$defs", None)
    for k in ("title", "description"):
        schema.pop(k, None)
    out = {"$schema": _DRAFT_07, "$id": id_, "title": title, "description": description, **schema}
    if defs:
        out["definitions"] = defs
    return out


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema (draft-07) for every topic value and its DLQ twin."""
    out: dict[str, dict[str, Any]] = {}
    for spec in ALL_TOPICS:
        out[spec.schema_file] = _draft07(
            spec.model,
            id_=f"urn:cloudops:topic:{spec.name}:v{spec.version}",
            title=f"{spec.name} v{spec.version}",
            description=f"{spec.description} Key: {spec.key}. Content type: {spec.content_type}.",
        )
        out[spec.dlq_schema_file] = _draft07(
            DeadLetter,
            id_=f"urn:cloudops:topic:{spec.dlq}:v1",
            title=f"{spec.dlq} v1",
            description=f"Dead letters of {spec.name}: original bytes, position, error kind and reason.",
        )
    return out


def _headers_schema(headers: Sequence[HeaderSpec]) -> dict[str, Any]:
    """AsyncAPI schema of a record's headers: each value is bytes, described as a string."""
    props: dict[str, Any] = {}
    for h in headers:
        prop: dict[str, Any] = {"type": "string", "description": h.description, "contentMediaType": h.content_type}
        if h.schema_file:
            prop["description"] += f" Validates against `{h.schema_file}`."
            prop["x-json-schema"] = h.schema_file
        props[h.name] = prop
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required := [h.name for h in headers if h.required]:
        schema["required"] = required
    return schema


def _message(
    *,
    name: str,
    title: str,
    summary: str,
    content_type: str,
    key: str,
    payload: dict[str, Any],
    headers: list[HeaderSpec],
) -> dict[str, Any]:
    msg: dict[str, Any] = {"name": name, "title": title, "summary": summary, "contentType": content_type}
    if headers:
        msg["headers"] = _headers_schema(headers)
    msg["payload"] = payload
    msg["bindings"] = {"kafka": {"key": {"type": "string", "description": key}, "bindingVersion": _KAFKA_BINDING}}
    return msg


def _json_payload(schema_file: str) -> dict[str, Any]:
    return {"schemaFormat": JSON_SCHEMA_FORMAT, "schema": {"$ref": schema_file}}


def _topic_message(spec: TopicSpec, title: str, headers: list[HeaderSpec]) -> dict[str, Any]:
    """A message of the topic (or its retry twin): JSON values ``$ref`` the topic's schema, others are bytes."""
    payload = (
        _json_payload(spec.schema_file)
        if spec.content_type == "application/json"
        else {"type": "string", "format": "binary", "description": f"{spec.content_type} bytes (may be empty)."}
    )
    return _message(
        name=spec.model.__name__,
        title=title,
        summary=spec.description,
        content_type=spec.content_type,
        key=spec.key,
        payload=payload,
        headers=headers,
    )


def asyncapi_document(consumes: Mapping[str, Iterable[str]]) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every topic (and its retry and DLQ twins).

    ``consumes`` maps a worker role to the topics it consumes (``cloudops.app.CONSUMES``, which
    lives above this layer); it becomes the ``receive`` operations. Payload schemas are relative
    ``$ref`` s to the JSON Schema files written beside the document.
    """
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    readers: dict[str, list[str]] = {}
    for role, topics in consumes.items():
        for topic in topics:
            readers.setdefault(topic, []).append(role)

    def channel(address: str, description: str, message_id: str, message: dict[str, Any]) -> None:
        messages[message_id] = message
        ref = {"$ref": f"#/channels/{address}"}
        msg_ref = {"$ref": f"#/channels/{address}/messages/{message_id}"}
        channels[address] = {
            "address": address,
            "title": address,
            "description": description,
            "messages": {message_id: {"$ref": f"#/components/messages/{message_id}"}},
        }
        operations[f"send-{address}"] = {
            "action": "send",
            "channel": ref,
            "summary": f"cloudops publishes to {address} (and waits for the broker's acknowledgement).",
            "messages": [msg_ref],
        }
        if address in readers:
            roles = ", ".join(f"`{r}`" for r in readers[address])
            operations[f"receive-{address}"] = {
                "action": "receive",
                "channel": ref,
                "summary": f"The {roles} worker role(s) consume {address}.",
                "messages": [msg_ref],
            }

    for spec in ALL_TOPICS:
        message_id = f"{spec.name}.v{spec.version}"
        channel(
            spec.name, spec.description, message_id, _topic_message(spec, message_id, [*spec.headers, _REPLAYED_HEADER])
        )
        if spec.retry_topic:
            retry_id = f"{spec.retry_topic}.v{spec.version}"
            channel(
                spec.retry_topic,
                f"{spec.name} records whose processing failed transiently, waiting for their next round "
                "(same key and value as on the topic).",
                retry_id,
                _topic_message(spec, retry_id, [*spec.headers, *_RETRY_HEADERS]),
            )
        dlq_id = f"{spec.dlq}.v1"
        channel(
            spec.dlq,
            f"Dead letters of {spec.name}: records that failed for good (bad data, a bug, retries exhausted), "
            "with the original key, value and headers base64-encoded, where they were read from and why.",
            dlq_id,
            _message(
                name=DeadLetter.__name__,
                title=dlq_id,
                summary=f"A record of {spec.name} that could not be processed.",
                content_type="application/json",
                key=_DLQ_KEY,
                payload=_json_payload(spec.dlq_schema_file),
                headers=[],
            ),
        )
    kafka_default = KafkaSettings.model_fields["bootstrap_servers"].default
    return {
        "asyncapi": "3.0.0",
        "id": "urn:cloudops:event-api",
        "info": {
            "title": "cloudops event API",
            "version": __version__,
            "description": (
                "The Kafka topics of the cloudops pipeline (billing exports -> FOCUS -> ClickHouse -> "
                "recommendations). Each topic has a dead-letter twin `<topic>.dlq`; values are JSON unless "
                "the message says otherwise, and money amounts are decimal strings. Generated from "
                "`cloudops.topics.specs` by `cloudops topics schema` (`make schemas`)."
            ),
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": kafka_default,
                "protocol": "kafka",
                "description": (
                    "Any Kafka-wire broker; the address is `CLOUDOPS_KAFKA__BOOTSTRAP_SERVERS` (this is its default)."
                ),
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


class _PlainDumper(yaml.SafeDumper):
    """Writes an object used twice in full each time: no ``&id001`` anchors for readers to chase."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def write_schemas(out: Path, consumes: Mapping[str, Iterable[str]]) -> list[Path]:
    """Write every JSON Schema and the AsyncAPI document into ``out``; returns the files written.

    The output depends only on the declarations (keys in declaration order, no timestamps), so the
    committed copies can be compared byte for byte with a fresh run.
    """
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        (out / name).write_text(json.dumps(schema, indent=2) + "\n")
        written.append(out / name)
    doc = yaml.dump(asyncapi_document(consumes), Dumper=_PlainDumper, sort_keys=False, allow_unicode=True, width=110)
    header = "# Generated by `cloudops topics schema` (make schemas) from cloudops.topics.specs: do not edit.\n"
    (out / ASYNCAPI_FILE).write_text(header + doc)
    written.append(out / ASYNCAPI_FILE)
    return written
