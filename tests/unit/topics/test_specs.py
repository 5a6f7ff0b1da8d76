"""cloudops.topics.specs: every topic declared once, with a published JSON Schema and a DLQ twin."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel

from cloudops.schemas.events import BillingFile, BillingLoaded, DeadLetter, FocusBatchEnvelope, RejectedRow
from cloudops.topics.codec import encode_record
from cloudops.topics.specs import (
    ALL_TOPICS,
    BILLING_FILES,
    BILLING_LOADED,
    FOCUS_BATCHES,
    dlq_name,
    json_schemas,
)


@pytest.fixture(scope="module")
def schemas() -> dict[str, dict[str, Any]]:
    return json_schemas()


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _doc(record: BaseModel) -> Any:
    return json.loads(encode_record(record))


BILLING_FILE = BillingFile(
    tenant="acme",
    provider_hint="aws",
    url="s3://billing/cur/2024-01.csv.gz",
    bucket="billing",
    key="cur/2024-01.csv.gz",
    etag="344fd2323dd33d5c058b7cf27de029e8",
    size=8,
    event_time=datetime(2026, 11, 27, 23, 46, 26, tzinfo=UTC),
    trigger="s3-event",
)
ROWS = FocusBatchEnvelope(
    kind="rows",
    tenant="acme",
    file_id="f" * 32,
    file_url="s3://billing/cur.csv",
    format="aws-cur",
    seq=0,
    batch_id="b" * 32,
    row_start=0,
    row_end=1281,
    row_count=1281,
    cost_totals={"USD": Decimal("1.6823086974")},
)
END = ROWS.model_copy(
    update={
        "kind": "end",
        "seq": 1,
        "row_count": 0,
        "rows_in": 1281,
        "rows_rejected": 0,
        "source_totals": {"USD": Decimal("1.6823086974")},
        "rejected_totals": {},
    }
)
LOADED = BillingLoaded(
    tenant="acme",
    file_id="f" * 32,
    file_url="s3://billing/cur.csv",
    format="aws-cur",
    rows_in=1281,
    rows_rejected=0,
    rows_landed=1281,
    batches=1,
    source_totals={"USD": Decimal("1.6823086974")},
    rejected_totals={},
    landed_totals={"USD": Decimal("1.6823086974")},
    reconciled=True,
)
DEAD = DeadLetter(
    source_topic="focus-batches",
    partition=0,
    offset=12,
    key_b64=DeadLetter.b64(b"key"),
    value_b64=DeadLetter.b64(b"\x00\x01"),
    error_kind="bad_data",
    reason="BilledCost: not a valid decimal value",
    app_version="0.1.0",
    tenant="acme",
    rejected_row=RejectedRow(row_number=3, reason="r", raw='{"lineItem/UnblendedCost": "x"}'),
)


def test_topic_declarations() -> None:
    names = ["billing-files", "focus-batches", "billing-loaded", "billing-periods", "recommendations"]
    assert [t.name for t in ALL_TOPICS] == names
    assert len({t.name for t in ALL_TOPICS}) == len(ALL_TOPICS)
    assert BILLING_FILES.model is BillingFile
    assert FOCUS_BATCHES.model is FocusBatchEnvelope
    assert BILLING_LOADED.model is BillingLoaded
    assert FOCUS_BATCHES.content_type == "application/vnd.apache.arrow.stream"
    assert BILLING_FILES.dlq == "billing-files.dlq" == dlq_name("billing-files")
    for t in ALL_TOPICS:
        assert t.version >= 1
        assert t.description
        assert t.key


def test_every_topic_and_dlq_has_a_schema(schemas: dict[str, dict[str, Any]]) -> None:
    expected = set()
    for t in ALL_TOPICS:
        expected.add(f"{t.name}.v{t.version}.schema.json")
        expected.add(f"{t.name}.dlq.v1.schema.json")
    assert set(schemas) == expected
    assert len(schemas) == 2 * len(ALL_TOPICS)


def test_schema_ids_titles_descriptions(schemas: dict[str, dict[str, Any]]) -> None:
    for t in ALL_TOPICS:
        main = schemas[f"{t.name}.v{t.version}.schema.json"]
        assert main["$id"] == f"urn:cloudops:topic:{t.name}:v{t.version}"
        assert main["title"] == f"{t.name} v{t.version}"
        assert t.key in main["description"]
        assert t.content_type in main["description"]
        dlq = schemas[f"{t.name}.dlq.v1.schema.json"]
        assert dlq["$id"] == f"urn:cloudops:topic:{t.name}.dlq:v1"
        assert dlq["title"] == f"{t.name}.dlq v1"
        assert t.name in dlq["description"]
    ids = [s["$id"] for s in schemas.values()]
    assert len(ids) == len(set(ids))


def test_schemas_are_valid_json_schema_and_serialisable(schemas: dict[str, dict[str, Any]]) -> None:
    for name, schema in schemas.items():
        _validator(schema)
        assert json.loads(json.dumps(schema)) == schema, name


@pytest.mark.parametrize(
    ("file_name", "record"),
    [
        ("billing-files.v1.schema.json", BILLING_FILE),
        ("focus-batches.v1.schema.json", ROWS),
        ("focus-batches.v1.schema.json", END),
        ("billing-loaded.v1.schema.json", LOADED),
        ("billing-files.dlq.v1.schema.json", DEAD),
        ("focus-batches.dlq.v1.schema.json", DEAD),
        ("billing-loaded.dlq.v1.schema.json", DEAD),
    ],
)
def test_schemas_validate_encoded_records(
    schemas: dict[str, dict[str, Any]], file_name: str, record: BaseModel
) -> None:
    errors = list(_validator(schemas[file_name]).iter_errors(_doc(record)))
    assert errors == []


def test_money_is_a_string_in_the_schema(schemas: dict[str, dict[str, Any]]) -> None:
    loaded = schemas["billing-loaded.v1.schema.json"]
    assert loaded["properties"]["landed_totals"]["additionalProperties"] == {"type": "string"}
    validator = _validator(loaded)
    doc = _doc(LOADED)
    doc["landed_totals"] = {"USD": 1.68}  # a JSON number would lose cents
    assert not validator.is_valid(doc)


@pytest.mark.parametrize(
    ("file_name", "record", "mutate"),
    [
        ("billing-files.v1.schema.json", BILLING_FILE, lambda d: d.pop("tenant")),
        ("billing-files.v1.schema.json", BILLING_FILE, lambda d: d.update(trigger="carrier-pigeon")),
        ("billing-files.v1.schema.json", BILLING_FILE, lambda d: d.update(size=-1)),
        ("focus-batches.v1.schema.json", ROWS, lambda d: d.update(kind="middle")),
        ("focus-batches.v1.schema.json", ROWS, lambda d: d.update(schema_version=2)),
        ("focus-batches.v1.schema.json", ROWS, lambda d: d.update(unexpected=True)),
        ("billing-loaded.dlq.v1.schema.json", DEAD, lambda d: d.update(error_kind="oops")),
    ],
)
def test_schemas_reject_invalid_records(
    schemas: dict[str, dict[str, Any]], file_name: str, record: BaseModel, mutate: Any
) -> None:
    doc = _doc(record)
    mutate(doc)
    assert not _validator(schemas[file_name]).is_valid(doc)
