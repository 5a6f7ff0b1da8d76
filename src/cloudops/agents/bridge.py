"""``bridge``: S3 ObjectCreated notifications (SQS) -> ``billing-files``.

At-least-once: an SQS message is deleted only after every event it produced was
acknowledged by the broker. A message that is not an S3 notification is dead-lettered
(then deleted); ``s3:TestEvent`` is ignored (and deleted).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from cloudops.errors import BadDataError
from cloudops.schemas.events import BillingFile
from cloudops.sources.objects import s3_client
from cloudops.sources.sqs import parse_s3_notification
from cloudops.topics.codec import encode_record
from cloudops.topics.runtime import Runtime
from cloudops.topics.specs import BILLING_FILES

__all__ = ["events_from_message", "poll_once", "register"]

log = logging.getLogger(__name__)


def events_from_message(body: str, tenant: str) -> list[BillingFile]:
    """The billing-files events announced by one SQS message body (BadDataError if not S3)."""
    return [
        BillingFile(
            tenant=tenant,
            url=f"s3://{rec.bucket}/{rec.key}",
            bucket=rec.bucket,
            key=rec.key,
            etag=rec.etag.strip('"') if rec.etag else None,
            version_id=rec.version_id,
            size=rec.size,
            event_time=rec.event_time,
            trigger="s3-event",
        )
        for rec in parse_s3_notification(body)
    ]


async def poll_once(rt: Runtime, sqs: Any, queue_url: str) -> int:
    """One long-poll: publish what arrived, delete what was published. Returns events published."""
    aws = rt.settings.aws
    resp = await sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=aws.sqs_wait_seconds,
        VisibilityTimeout=aws.sqs_visibility_timeout,
    )
    published = 0
    for msg in resp.get("Messages", []):
        body = msg.get("Body", "")
        try:
            events = events_from_message(body, rt.settings.app.tenant)
        except BadDataError as exc:
            await rt.dead_letter(
                BILLING_FILES,
                error_kind="bad_data",
                reason=exc.reason,
                value=body.encode(),
                source_topic=f"sqs:{queue_url}",
            )
            events = []
        for event in events:
            await rt.publish(BILLING_FILES, key=event.file_id, value=encode_record(event))
            published += 1
            rt.count("bridge.events")
        await sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])
    return published


def register(app: Any, rt: Runtime) -> None:
    """Add the bridge task to the app (it idles if no queue is configured)."""

    @app.task  # type: ignore[untyped-decorator]
    async def bridge() -> None:
        queue_url = rt.settings.aws.sqs_queue_url
        if not queue_url:
            log.info("bridge: no CLOUDOPS_AWS__SQS_QUEUE_URL set; not polling")
            return
        log.info("bridge: polling %s", queue_url)
        async with s3_client(rt.settings.aws, "sqs") as sqs:
            while True:
                try:
                    await poll_once(rt, sqs, queue_url)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # keep polling: SQS redelivers anything not deleted
                    log.warning("bridge: poll failed (%s: %s); retrying", type(exc).__name__, exc)
                    await asyncio.sleep(min(rt.settings.ingest.backoff_max_s, 2.0))
