"""Routing in: S3 ObjectCreated notifications (SQS, one or more queues) and Azure Event Grid
BlobCreated events (Azure Storage Queues) -> ``billing-files``.

One bridge serves every tenant: each object is routed to (tenant, source) by bucket and the
longest key prefix of the control plane's sources (:class:`~cloudops.service.routing.Router`);
an object that matches no source, sources of two tenants, or a suspended or deleted tenant
goes to ``billing-files.dlq`` with the reason. Without a control plane every object goes to
``CLOUDOPS_APP__TENANT`` (the embedded demo).

At-least-once: a queue message is deleted only after every event it produced was
acknowledged by the broker (or dead-lettered). A message that is not a notification is
dead-lettered (then deleted); ``s3:TestEvent`` is ignored (and deleted).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from cloudops.errors import BadDataError
from cloudops.schemas.events import BillingFile
from cloudops.service.routing import Router, Unroutable
from cloudops.sources.credentials import CredentialsResolver, SourceIdentity
from cloudops.sources.notifications import event_for, notification_for
from cloudops.sources.objects import s3_client
from cloudops.sources.sqs import S3ObjectCreated, parse_s3_notification
from cloudops.sources.stores.azure_blob import queue_client
from cloudops.sources.stores.azure_events import blob_created_event, parse_blob_events
from cloudops.topics.codec import encode_record
from cloudops.topics.runtime import Message, Runtime, Subject
from cloudops.topics.specs import BILLING_FILES

__all__ = ["poll_azure_forever", "poll_azure_once", "poll_once", "poll_sqs_forever"]

log = logging.getLogger(__name__)


async def _route(rt: Runtime, router: Router | None, rec: S3ObjectCreated) -> BillingFile:
    if router is None:
        return event_for(rec, rt.settings.app.tenant, None)
    route = await router.route(rec.bucket, rec.key)
    return event_for(rec, route.tenant, route.source_id)


async def _unreadable(rt: Runtime, where: str, body: str, exc: BadDataError) -> None:
    """A queue message that is not a notification: dead-lettered as it came."""
    msg = Message(where, value=body.encode())
    await rt.dead_letter(BILLING_FILES, error_kind="bad_data", reason=exc.reason, message=msg, source_topic=where)


async def _unroutable(rt: Runtime, where: str, reason: str, tenant: str | None, notification: str, url: str) -> None:
    """An object no source (or two tenants' sources) claims; replayable: `cloudops dlq replay` sends it
    back to the queue."""
    rt.count("bridge.unroutable")
    log.warning("bridge: %s", reason)
    await rt.dead_letter(
        BILLING_FILES,
        error_kind="bad_data",
        reason=reason,
        message=Message(where, value=notification.encode()),
        source_topic=where,
        subject=Subject(tenant, None, url),
    )


async def poll_once(rt: Runtime, sqs: Any, queue_url: str, router: Router | None = None) -> int:
    """One long-poll of one queue: route and publish what arrived, dead-letter what cannot be routed,
    delete what was handled. Returns events published."""
    aws = rt.settings.aws
    where = f"sqs:{queue_url}"
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
            records = parse_s3_notification(body)
        except BadDataError as exc:
            await _unreadable(rt, where, body, exc)
            records = []
        for rec in records:
            try:
                event = await _route(rt, router, rec)
            except Unroutable as exc:
                url = f"s3://{rec.bucket}/{rec.key}"
                await _unroutable(rt, where, exc.reason, exc.tenant, notification_for(rec), url)
                continue
            await rt.publish(BILLING_FILES, key=event.file_id, value=encode_record(event))
            published += 1
            rt.count("bridge.events")
        await sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])
    return published


async def poll_azure_once(rt: Runtime, queue: Any, router: Router | None = None) -> int:
    """One receive from an Azure Storage Queue of Event Grid BlobCreated events (either schema): route
    and publish each blob like an S3 record, dead-letter what cannot be routed, delete what was
    handled. Returns events published (0: the queue was empty or held nothing to ingest)."""
    published = 0
    where = f"azure-queue:{queue.queue_name}"
    async for msg in queue.receive_messages(
        messages_per_page=32, max_messages=32, visibility_timeout=rt.settings.azure.queue_visibility_timeout
    ):
        body = str(msg.content or "")
        try:
            blobs = parse_blob_events(body)
        except BadDataError as exc:
            await _unreadable(rt, where, body, exc)
            blobs = []
        for blob in blobs:
            try:
                route = await router.route(blob.container, blob.name) if router is not None else None
            except Unroutable as exc:
                reason, url = exc.reason.replace("s3://", "az://"), f"az://{blob.container}/{blob.name}"
                await _unroutable(rt, where, reason, exc.tenant, blob_created_event(blob), url)
                continue
            event = blob.billing_file(*((route.tenant, route.source_id) if route else (rt.settings.app.tenant, None)))
            await rt.publish(BILLING_FILES, key=event.file_id, value=encode_record(event))
            published += 1
            rt.count("bridge.events")
        await queue.delete_message(msg)
    return published


async def poll_sqs_forever(rt: Runtime, queue_url: str, router: Router | None) -> None:
    """Long-poll one SQS queue until cancelled; a failed poll is logged and tried again (SQS
    redelivers anything not deleted)."""
    log.info("bridge: polling %s", queue_url)
    async with s3_client(rt.settings.aws, "sqs") as sqs:
        while True:
            try:
                await poll_once(rt, sqs, queue_url, router)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep polling: SQS redelivers anything not deleted
                log.warning("bridge: poll of %s failed (%s: %s); retrying", queue_url, type(exc).__name__, exc)
                await asyncio.sleep(min(rt.settings.ingest.backoff_max_s, 2.0))


async def poll_azure_forever(rt: Runtime, queue_url: str, router: Router | None) -> None:
    """Poll one Azure Storage Queue until cancelled (Azure redelivers anything not deleted)."""
    log.info("bridge: polling Azure queue %s", queue_url.split("?")[0])
    ref = rt.settings.azure.queue_credentials_ref
    credentials = await CredentialsResolver(rt.settings.aws).resolve(ref, SourceIdentity("platform", "azure-queue"))
    async with queue_client(queue_url, credentials) as queue:
        while True:
            try:
                if not await poll_azure_once(rt, queue, router):
                    await asyncio.sleep(rt.settings.azure.queue_poll_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep polling: Azure redelivers anything not deleted
                log.warning("bridge: poll of Azure queue failed (%s: %s); retrying", type(exc).__name__, exc)
                await asyncio.sleep(min(rt.settings.ingest.backoff_max_s, 2.0))
