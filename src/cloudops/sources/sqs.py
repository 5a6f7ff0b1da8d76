"""S3 ObjectCreated notifications delivered through SQS.

Only decoding lives here (pure); the long-poll loop that publishes to Kafka is the
``bridge`` agent. Keys in S3 event records are URL-encoded with ``+`` for spaces.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cloudops.errors import BadDataError

__all__ = ["S3ObjectCreated", "parse_s3_notification"]


@dataclass(frozen=True, slots=True)
class S3ObjectCreated:
    bucket: str
    key: str
    etag: str | None
    version_id: str | None
    size: int | None
    event_time: datetime
    event_name: str


def _time(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def parse_s3_notification(body: str) -> list[S3ObjectCreated]:
    """Decode one SQS message body into its ObjectCreated records.

    Returns ``[]`` for ``s3:TestEvent`` and for non-ObjectCreated records. Handles
    bodies wrapped by SNS (``{"Type": "Notification", "Message": "..."}``).
    Raises BadDataError for a body that is not an S3 notification.
    """
    try:
        doc: Any = json.loads(body)
    except json.JSONDecodeError as exc:
        raise BadDataError(f"SQS message is not JSON: {exc}") from exc
    if isinstance(doc, dict) and doc.get("Type") == "Notification" and isinstance(doc.get("Message"), str):
        return parse_s3_notification(doc["Message"])
    if not isinstance(doc, dict):
        raise BadDataError("SQS message is not a JSON object")
    if doc.get("Event") == "s3:TestEvent":
        return []
    records = doc.get("Records")
    if not isinstance(records, list):
        raise BadDataError("SQS message has no S3 Records")
    out: list[S3ObjectCreated] = []
    for rec in records:
        try:
            name = str(rec.get("eventName", ""))
            if not name.startswith("ObjectCreated"):
                continue
            s3 = rec["s3"]
            obj = s3["object"]
            out.append(
                S3ObjectCreated(
                    bucket=s3["bucket"]["name"],
                    key=urllib.parse.unquote_plus(obj["key"]),
                    etag=(obj.get("eTag") or obj.get("etag") or None),
                    version_id=obj.get("versionId") or None,
                    size=obj.get("size"),
                    event_time=_time(rec.get("eventTime")),
                    event_name=name,
                )
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise BadDataError(f"malformed S3 event record: {exc!r}") from exc
    return out
