"""Event Grid BlobCreated events from an Azure Storage Queue (both schemas, Base64 or raw)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import jsonschema
import pytest

from cloudops.errors import BadDataError
from cloudops.schemas.events import BillingFile
from cloudops.sources.stores.azure_events import BlobCreated, blob_created_event, parse_blob_events
from cloudops.topics.codec import decode_record, encode_record
from cloudops.topics.specs import json_schemas

_DATA = {
    "api": "PutBlockList",
    "clientRequestId": "6d79dbfb-0e37-4fc4-981f-442c9ca65760",
    "requestId": "831e1650-001e-001b-66ab-eeb76e000000",
    "eTag": "0x8D4BCC2E4835CD0",
    "contentType": "text/csv",
    "contentLength": 524288,
    "blobType": "BlockBlob",
    "url": "https://acct.blob.core.windows.net/costs/exports/daily/20240501-20240531/run%201/part_0.csv",
    "sequencer": "00000000000004420000000000028963",
    "storageDiagnostics": {"batchId": "b68529f3-68cd-4744-baa4-3c0498ec19f0"},
}
_SUBJECT = "/blobServices/default/containers/costs/blobs/exports/daily/20240501-20240531/run 1/part_0.csv"
EVENT_GRID = {
    "topic": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct",
    "subject": _SUBJECT,
    "eventType": "Microsoft.Storage.BlobCreated",
    "eventTime": "2024-05-02T04:12:10.1234567Z",
    "id": "831e1650-001e-001b-66ab-eeb76e069631",
    "data": _DATA,
    "dataVersion": "",
    "metadataVersion": "1",
}
CLOUD_EVENT = {
    "specversion": "1.0",
    "type": "Microsoft.Storage.BlobCreated",
    "source": EVENT_GRID["topic"],
    "id": "9aeb0fdf-c01e-0131-0922-9eb54906e209",
    "time": "2024-05-02T04:12:10.1234567Z",
    "subject": _SUBJECT,
    "data": _DATA,
}


@pytest.mark.parametrize("doc", [EVENT_GRID, CLOUD_EVENT], ids=["event-grid", "cloudevents"])
@pytest.mark.parametrize("encode", [True, False], ids=["base64", "raw"])
def test_blob_created_decodes_from_either_schema(doc: dict[str, object], encode: bool) -> None:
    body = json.dumps(doc)
    if encode:
        body = base64.b64encode(body.encode()).decode()
    [blob] = parse_blob_events(body)
    assert (blob.container, blob.name) == ("costs", "exports/daily/20240501-20240531/run 1/part_0.csv")
    assert (blob.etag, blob.size, blob.account_url) == (
        "0x8D4BCC2E4835CD0",
        524288,
        "https://acct.blob.core.windows.net",
    )
    assert blob.event_time == datetime(2024, 5, 2, 4, 12, 10, 123456, tzinfo=UTC)
    event = blob.billing_file("t1", "src")
    assert (event.url, event.bucket, event.etag, event.source_id) == (
        "az://costs/exports/daily/20240501-20240531/run 1/part_0.csv",
        "costs",
        "0x8D4BCC2E4835CD0",
        "src",
    )


def test_other_events_decode_to_nothing_and_arrays_are_read() -> None:
    deleted = {**EVENT_GRID, "eventType": "Microsoft.Storage.BlobDeleted"}
    validation = {**EVENT_GRID, "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent", "subject": ""}
    assert parse_blob_events(json.dumps(deleted)) == []
    assert len(parse_blob_events(json.dumps([deleted, validation, EVENT_GRID, CLOUD_EVENT]))) == 2


@pytest.mark.parametrize(
    "body",
    [
        "not base64 !!",
        base64.b64encode(b"not json").decode(),
        json.dumps({"hello": 1}),
        json.dumps([1]),
        json.dumps({**EVENT_GRID, "subject": "/blobServices/default/containers/costs"}),
    ],
)
def test_anything_else_is_bad_data(body: str) -> None:
    with pytest.raises(BadDataError):
        parse_blob_events(body)


@pytest.mark.parametrize("cloud_events", [False, True])
def test_dead_letter_body_replays_to_the_same_blob(cloud_events: bool) -> None:
    blob = BlobCreated("https://acct.blob.core.windows.net", "costs", "a b/c.csv", "0x1", 3, datetime.now(UTC), "id")
    assert parse_blob_events(blob_created_event(blob, cloud_events=cloud_events)) == [blob]


def test_blob_created_announces_an_azure_event_valid_in_the_published_schema() -> None:
    """BlobCreated events carry trigger ``azure-event``; the published v1 schema accepts it, and a
    record written before it existed (an Azure event recorded as ``s3-event``) still decodes."""
    [blob] = parse_blob_events(json.dumps(EVENT_GRID))
    event = blob.billing_file("t1", "src")
    assert event.trigger == "azure-event"
    schema = json_schemas()["billing-files.v1.schema.json"]
    validator = jsonschema.Draft202012Validator(schema)
    doc = json.loads(encode_record(event))
    validator.validate(doc)
    old = {**doc, "trigger": "s3-event"}
    validator.validate(old)
    assert decode_record(BillingFile, json.dumps(old).encode()).trigger == "s3-event"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**doc, "trigger": "blob-event"})
