"""Event Grid ``Microsoft.Storage.BlobCreated`` events read from an Azure Storage Queue (pure decoding).

Event Grid delivers to a Storage Queue one event per message, Base64-encoded by default (raw
JSON when the subscription says so). Both delivery schemas are understood:

* Event Grid schema: ``{"topic", "subject", "eventType": "Microsoft.Storage.BlobCreated",
  "eventTime", "id", "data": {"api", "eTag", "contentLength", "url", ...}}``;
* CloudEvents 1.0: ``{"specversion": "1.0", "type": "Microsoft.Storage.BlobCreated",
  "source", "subject", "time", "id", "data": {...}}``.

The container and blob name come from ``subject``
(``/blobServices/default/containers/<container>/blobs/<name>``, the name unencoded), the
account from ``data.url``. Other event types (BlobDeleted, ...) and Event Grid's subscription
validation events decode to nothing. Anything else raises BadDataError (dead-lettered).
"""

from __future__ import annotations

import base64
import binascii
import json
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cloudops.errors import BadDataError
from cloudops.schemas.events import BillingFile

__all__ = ["BlobCreated", "blob_created_event", "parse_blob_events"]

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
_SUBJECT = "/blobServices/default/containers/"


@dataclass(frozen=True, slots=True)
class BlobCreated:
    """One created blob, as the queue announced it."""

    account_url: str  # scheme://host[/account] of data.url, without the container
    container: str
    name: str
    etag: str | None
    size: int | None
    event_time: datetime
    event_id: str

    def billing_file(self, tenant: str, source_id: str | None) -> BillingFile:
        """The ``billing-files`` event for this blob (``az://container/name``, pinned to its ETag)."""
        return BillingFile(
            tenant=tenant,
            url=f"az://{self.container}/{self.name}",
            bucket=self.container,
            key=self.name,
            etag=self.etag,
            size=self.size,
            event_time=self.event_time,
            trigger="azure-event",
            source_id=source_id,
        )


def _time(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        return datetime.now(UTC)
    text = value.replace("Z", "+00:00")
    # Event Grid writes 7 fractional digits; Python reads at most 6.
    if "." in text:
        head, _, tail = text.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        zone = tail[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _decode_body(body: str) -> Any:
    text = body.strip()
    if not text.startswith(("{", "[")):
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise BadDataError(f"queue message is neither JSON nor Base64 JSON: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadDataError(f"queue message is not JSON: {exc}") from None


def _one(doc: Any) -> BlobCreated | None:
    if not isinstance(doc, dict):
        raise BadDataError("an Event Grid event is not a JSON object")
    event_type = doc.get("eventType") or doc.get("type")
    if not isinstance(event_type, str):
        raise BadDataError("not an Event Grid event (no eventType / type)")
    if event_type != BLOB_CREATED:
        return None  # BlobDeleted, SubscriptionValidation, ...: nothing to ingest
    subject, data = doc.get("subject"), doc.get("data")
    if not isinstance(subject, str) or not subject.startswith(_SUBJECT) or not isinstance(data, dict):
        raise BadDataError(f"BlobCreated event without a blob subject: {subject!r}")
    container, sep, name = subject[len(_SUBJECT) :].partition("/blobs/")
    if not sep or not container or not name:
        raise BadDataError(f"BlobCreated subject names no blob: {subject!r}")
    url = data.get("url")
    account_url = ""
    if isinstance(url, str) and url:
        parsed = urllib.parse.urlsplit(url)
        path = urllib.parse.unquote(parsed.path)
        marker = f"/{container}/"
        account_url = f"{parsed.scheme}://{parsed.netloc}{path[: path.find(marker)] if marker in path else ''}"
    size = data.get("contentLength")
    etag = data.get("eTag") or data.get("etag")
    return BlobCreated(
        account_url=account_url,
        container=container,
        name=name,
        etag=str(etag).strip('"') if etag else None,
        size=int(size) if isinstance(size, int) else None,
        event_time=_time(doc.get("eventTime") or doc.get("time")),
        event_id=str(doc.get("id") or ""),
    )


def parse_blob_events(body: str) -> list[BlobCreated]:
    """Decode one queue message (Base64 or raw JSON; one event or an array) into its BlobCreated events.

    Raises BadDataError for a message that is not Event Grid events."""
    doc = _decode_body(body)
    events = doc if isinstance(doc, list) else [doc]
    out: list[BlobCreated] = []
    for item in events:
        try:
            found = _one(item)
        except (TypeError, ValueError) as exc:
            raise BadDataError(f"malformed BlobCreated event: {exc!r}") from None
        if found is not None:
            out.append(found)
    return out


def blob_created_event(event: BlobCreated, *, cloud_events: bool = False) -> str:
    """A one-event queue message for ``event`` (raw JSON, Event Grid or CloudEvents schema): what the
    bridge dead-letters for a blob it cannot route, so a replay re-announces exactly that blob."""
    subject = f"{_SUBJECT}{event.container}/blobs/{event.name}"
    data = {
        "api": "PutBlob",
        "eTag": event.etag,
        "contentLength": event.size,
        "blobType": "BlockBlob",
        "url": f"{event.account_url}/{event.container}/{urllib.parse.quote(event.name)}",
    }
    if cloud_events:
        doc: dict[str, Any] = {
            "specversion": "1.0",
            "type": BLOB_CREATED,
            "source": event.account_url,
            "subject": subject,
            "id": event.event_id,
            "time": event.event_time.isoformat(),
            "data": data,
        }
    else:
        doc = {
            "topic": event.account_url,
            "subject": subject,
            "eventType": BLOB_CREATED,
            "eventTime": event.event_time.isoformat(),
            "id": event.event_id,
            "data": data,
            "dataVersion": "",
            "metadataVersion": "1",
        }
    return json.dumps(doc)
