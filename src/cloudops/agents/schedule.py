"""``schedule``: the second trigger (listing sources, :mod:`cloudops.ingest.schedule`), the takeover of
abandoned files while parse runs no replica, and the purge of deleted tenants."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from cloudops.errors import CloudopsError
from cloudops.ingest.schedule import Scheduler
from cloudops.service import Caller
from cloudops.service.tenants import purge_due_tenants
from cloudops.topics.runtime import Runtime

__all__ = ["register"]

log = logging.getLogger(__name__)
_PURGE_EVERY_S = 600.0


def register(app: Any, rt: Runtime) -> None:
    """Add the schedule timer (ticks every ``CLOUDOPS_INGEST__SCHEDULE_TICK_S``), the takeover timer and
    the purge of deleted tenants whose grace period ended (every 10 minutes)."""
    scheduler = Scheduler(rt)

    @app.timer(interval=rt.settings.ingest.claim_lease_s)  # type: ignore[untyped-decorator]
    async def takeover() -> None:
        try:
            if n := await scheduler.takeover():
                log.warning("schedule: announced %d abandoned file(s) again", n)
        except Exception as exc:  # e.g. PostgreSQL away: the next tick tries again
            log.warning("schedule: takeover check failed: %s", exc)

    @app.timer(interval=rt.settings.ingest.schedule_tick_s)  # type: ignore[untyped-decorator]
    async def schedule() -> None:
        try:
            if n := await scheduler.scan():
                log.info("schedule: announced %d new object version(s)", n)
        except (CloudopsError, OSError) as exc:  # next tick tries again
            log.warning("schedule: scan failed: %s", exc)

    @app.timer(interval=_PURGE_EVERY_S)  # type: ignore[untyped-decorator]
    async def purge() -> None:
        """Step two of `tenants delete`: purge tenants whose grace period ended (schedule runs one replica)."""
        if not rt.settings.postgres.dsn:
            return
        operator = Caller(actor="agent:schedule", tenant=None, settings=rt.settings, platform=True)
        try:
            if done := await asyncio.to_thread(purge_due_tenants, operator):
                log.warning("schedule: purged deleted tenant(s) %s", ", ".join(done))
        except (CloudopsError, OSError) as exc:  # next tick tries again
            log.warning("schedule: tenant purge failed: %s", exc)
