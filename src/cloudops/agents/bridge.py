"""``bridge``: S3 notifications (SQS) and Azure BlobCreated events (Storage Queues) -> ``billing-files``,
routed to (tenant, source) by :mod:`cloudops.ingest.bridge`."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from cloudops.ingest.bridge import poll_azure_forever, poll_sqs_forever
from cloudops.service.routing import Router
from cloudops.sources.notifications import queue_urls
from cloudops.topics.runtime import Runtime

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(app: Any, rt: Runtime) -> None:
    """Add one polling task per configured queue (``CLOUDOPS_AWS__SQS_QUEUE_URL``,
    ``CLOUDOPS_AZURE__QUEUE_URLS``); none if no queue is configured."""
    urls = queue_urls(rt.settings.aws.sqs_queue_url)
    azure_urls = queue_urls(rt.settings.azure.queue_urls)
    router = Router(rt.settings) if rt.settings.postgres.dsn else None

    @app.task  # type: ignore[untyped-decorator]
    async def bridge() -> None:
        if not urls and not azure_urls:
            log.info("bridge: no CLOUDOPS_AWS__SQS_QUEUE_URL or CLOUDOPS_AZURE__QUEUE_URLS set; not polling")
            return
        await asyncio.gather(
            *(poll_sqs_forever(rt, u, router) for u in urls),
            *(poll_azure_forever(rt, u, router) for u in azure_urls),
        )
