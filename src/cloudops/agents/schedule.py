"""``schedule``: the second trigger. Lists every scheduled source's prefix and announces
object versions the ledger has not seen on ``billing-files`` (trigger ``schedule``).

Needs the control plane (sources and ledger live in PostgreSQL); idles without it. A
version already in the ledger (seen through an S3 event or an earlier listing) is not
announced again; if both triggers race, the parse agent's ledger claim still lets only
one parse happen.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from cloudops.errors import CloudopsError
from cloudops.sinks.postgres import ledger
from cloudops.sources.objects import list_objects
from cloudops.topics.codec import encode_record
from cloudops.topics.runtime import Runtime
from cloudops.topics.specs import BILLING_FILES

__all__ = ["register", "scan_due_sources"]

log = logging.getLogger(__name__)


async def scan_due_sources(rt: Runtime, last_run: dict[str, float], *, now: float | None = None) -> int:
    """Scan sources whose schedule is due; returns how many new object versions were announced."""
    dsn = rt.settings.postgres.dsn
    if not dsn:
        return 0
    tenant = rt.settings.app.tenant
    now = time.monotonic() if now is None else now
    announced = 0
    for src in await asyncio.to_thread(ledger.list_sources, dsn, tenant):
        if not src.enabled or not src.schedule_s:
            continue
        if now - last_run.get(src.id, float("-inf")) < src.schedule_s:
            continue
        last_run[src.id] = now
        for obj in await list_objects(rt.settings.aws, src.bucket, src.prefix):
            event = obj.billing_file(tenant, "schedule", source_id=src.id)
            # Recorded before it is announced, in the same statement that tells whether the ledger
            # knew it: if the announcement is never consumed, a parse worker's takeover timer still
            # finds the file.
            if rt.ledger is None or not await rt.ledger.record_announced(event):
                continue
            await rt.publish(BILLING_FILES, key=event.file_id, value=encode_record(event))
            announced += 1
            rt.count("schedule.events")
    return announced


def register(app: Any, rt: Runtime) -> None:
    """Add the schedule timer (ticks every ``CLOUDOPS_INGEST__SCHEDULE_TICK_S``)."""
    last_run: dict[str, float] = {}

    @app.timer(interval=rt.settings.ingest.schedule_tick_s)  # type: ignore[untyped-decorator]
    async def schedule() -> None:
        try:
            n = await scan_due_sources(rt, last_run)
            if n:
                log.info("schedule: announced %d new object version(s)", n)
        except (CloudopsError, OSError) as exc:  # next tick tries again
            log.warning("schedule: scan failed: %s", exc)
