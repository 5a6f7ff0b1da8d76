"""``schedule``: the second trigger. Lists every active tenant's scheduled sources and announces
object versions the ledger has not seen on ``billing-files`` (trigger ``schedule``, with the
tenant and source id).

Needs the control plane (sources and ledger live in PostgreSQL); idles without it. A
version already in the ledger (seen through an S3 event or an earlier listing) is not
announced again; if both triggers race, the parse agent's ledger claim still lets only
one parse happen.

It also runs the takeover of abandoned files while the parse role has no replica (KEDA scales
parse to zero; schedule always runs one): :func:`reannounce_stale` announces such files again,
which is lag on ``billing-files`` and wakes parse.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from cloudops.errors import CloudopsError
from cloudops.service import Caller
from cloudops.service.admission import gate_for
from cloudops.service.routing import Router
from cloudops.service.tenants import purge_due_tenants
from cloudops.sources.objects import list_objects
from cloudops.topics.codec import encode_record
from cloudops.topics.runtime import Runtime
from cloudops.topics.specs import BILLING_FILES

__all__ = ["reannounce_stale", "register", "scan_due_sources"]

log = logging.getLogger(__name__)
_PURGE_EVERY_S = 600.0


async def scan_due_sources(rt: Runtime, last_run: dict[str, float], *, now: float | None = None) -> int:
    """List every active tenant's due sources (each with its own endpoint, region and credentials) and
    announce object versions the ledger has not seen; returns how many. ``last_run`` is keyed by
    ``tenant/source``. A source that fails to list is logged and retried on its next due tick;
    the others go on."""
    if not rt.settings.postgres.dsn:
        return 0
    now = time.monotonic() if now is None else now
    gate = gate_for(rt.settings)
    announced = 0
    for tenant, src in await _router(rt).active_sources():
        slot = f"{tenant}/{src.id}"
        if not src.schedule_s or now - last_run.get(slot, float("-inf")) < src.schedule_s:
            continue
        last_run[slot] = now
        try:
            access = await gate.access(tenant, src)
            objects = await list_objects(rt.settings.aws, src.bucket, src.prefix, access=access)
        except CloudopsError as exc:
            log.warning("schedule: listing source %s failed: %s", slot, exc)
            continue
        for obj in objects:
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


_routers: dict[int, tuple[Runtime, Router]] = {}


def _router(rt: Runtime) -> Router:
    hit = _routers.get(id(rt))
    if hit is None or hit[0] is not rt:
        hit = (rt, Router(rt.settings))
        _routers[id(rt)] = hit
    return hit[1]


async def reannounce_stale(rt: Runtime, last_sent: dict[str, float], *, now: float | None = None) -> int:
    """Announce again every file the ledger says was abandoned (claim lapsed, never claimed, parsed but
    never loaded); returns how many. Each file at most once per ``unclaimed_after_s``.

    This is the takeover path when the parse role runs no replica (KEDA scaled it to zero): the
    announcement is lag on ``billing-files``, which scales parse up again, and the ledger claim lets
    exactly one worker parse the file (a parse worker's own takeover timer may race it: harmless).
    """
    if rt.ledger is None or not rt.ledger.enabled:
        return 0
    now = time.monotonic() if now is None else now
    sent = 0
    for event in await rt.ledger.stale_announcements():
        if now - last_sent.get(event.file_id, float("-inf")) < rt.settings.ingest.unclaimed_after_s:
            continue
        await rt.publish(BILLING_FILES, key=event.file_id, value=encode_record(event))
        last_sent[event.file_id] = now
        sent += 1
        rt.count("schedule.reannounced")
    return sent


def register(app: Any, rt: Runtime) -> None:
    """Add the schedule timer (ticks every ``CLOUDOPS_INGEST__SCHEDULE_TICK_S``), the takeover timer and
    the purge of deleted tenants whose grace period ended (every 10 minutes)."""
    last_run: dict[str, float] = {}
    reannounced: dict[str, float] = {}

    @app.timer(interval=rt.settings.ingest.claim_lease_s)  # type: ignore[untyped-decorator]
    async def takeover() -> None:
        try:
            n = await reannounce_stale(rt, reannounced)
            if n:
                log.warning("schedule: announced %d abandoned file(s) again", n)
        except Exception as exc:  # e.g. PostgreSQL away: the next tick tries again
            log.warning("schedule: takeover check failed: %s", exc)

    @app.timer(interval=rt.settings.ingest.schedule_tick_s)  # type: ignore[untyped-decorator]
    async def schedule() -> None:
        try:
            n = await scan_due_sources(rt, last_run)
            if n:
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
            done = await asyncio.to_thread(purge_due_tenants, operator)
            if done:
                log.warning("schedule: purged deleted tenant(s) %s", ", ".join(done))
        except (CloudopsError, OSError) as exc:  # next tick tries again
            log.warning("schedule: tenant purge failed: %s", exc)
