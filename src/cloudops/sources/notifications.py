"""S3 ObjectCreated records as ``billing-files`` events, and back (pure).

:func:`event_for` turns one decoded record (:mod:`cloudops.sources.sqs`) into the event of its
tenant and source; :func:`notification_for` turns it back into a one-record notification body,
which is what the bridge dead-letters for an object it cannot route, so that replaying the
dead letter puts exactly that object back on its queue.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from cloudops.schemas.events import BillingFile
from cloudops.sources.sqs import S3ObjectCreated

__all__ = ["event_for", "notification_for", "queue_urls"]


def event_for(rec: S3ObjectCreated, tenant: str, source_id: str | None) -> BillingFile:
    """The ``billing-files`` event of one ObjectCreated record, for its tenant and source."""
    return BillingFile(
        tenant=tenant,
        url=f"s3://{rec.bucket}/{rec.key}",
        bucket=rec.bucket,
        key=rec.key,
        etag=rec.etag.strip('"') if rec.etag else None,
        version_id=rec.version_id,
        size=rec.size,
        event_time=rec.event_time,
        trigger="s3-event",
        source_id=source_id,
    )


def notification_for(rec: S3ObjectCreated) -> str:
    """A one-record S3 notification body for ``rec`` (keys encoded as S3 encodes them)."""
    obj: dict[str, Any] = {"key": urllib.parse.quote_plus(rec.key)}
    if rec.etag:
        obj["eTag"] = rec.etag
    if rec.version_id:
        obj["versionId"] = rec.version_id
    if rec.size is not None:
        obj["size"] = rec.size
    record = {
        "eventName": rec.event_name,
        "eventTime": rec.event_time.isoformat(),
        "s3": {"bucket": {"name": rec.bucket}, "object": obj},
    }
    return json.dumps({"Records": [record]})


def queue_urls(value: str | None) -> list[str]:
    """``CLOUDOPS_AWS__SQS_QUEUE_URL`` split on commas."""
    return [u.strip() for u in (value or "").split(",") if u.strip()]
