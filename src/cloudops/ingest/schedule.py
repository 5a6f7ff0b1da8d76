"""The second trigger: list every active tenant's scheduled sources and announce object versions the
ledger has not seen on ``billing-files`` (trigger ``schedule``, with the tenant and source id).

Needs the control plane (sources and ledger live in PostgreSQL); idles without it. A version
already in the ledger (seen through an S3 event or an earlier listing) is not announced again;
if both triggers race, the parse agent's ledger claim still lets only one parse happen.

It also runs the takeover of abandoned files while the parse role has no replica (KEDA scales
parse to zero; schedule always runs one): :func:`reannounce_stale` announces such files again,
which is lag on ``billing-files`` and wakes parse. When each source was last listed and each
file last re-announced is kept in ``public.worker_state`` (:class:`Scheduler`), so a restarted
schedule neither lists every source at once nor announces the same abandoned files again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import MutableMapping

from cloudops.errors import CloudopsError
from cloudops.ingest.lifecycle import FileLifecycle
from cloudops.ingest.state import WorkerState
from cloudops.service.admission import gate_for
from cloudops.service.routing import Router
from cloudops.sources.objects import list_objects
from cloudops.topics.codec import encode_record
from cloudops.topics.runtime import Runtime
from cloudops.topics.specs import BILLING_FILES

__all__ = ["Scheduler", "reannounce_stale", "scan_due_sources"]

log = logging.getLogger(__name__)
_LISTED = "listed:"
_ANNOUNCED = "announced:"


async def scan_due_sources(
    rt: Runtime, last_run: MutableMapping[str, float], *, now: float | None = None, router: Router | None = None
) -> int:
    """List every active tenant's due sources (each with its own endpoint, region and credentials) and
    announce object versions the ledger has not seen; returns how many. ``last_run`` (wall-clock
    seconds) is keyed by ``tenant/source``. A source that fails to list is logged and retried on its
    next due tick; the others go on."""
    if not rt.settings.postgres.dsn:
        return 0
    now = time.time() if now is None else now
    gate = gate_for(rt.settings)
    lifecycle = FileLifecycle(rt)
    announced = 0
    for tenant, src in await (router or Router(rt.settings)).active_sources():
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
            if not await lifecycle.announced(event):
                continue
            await rt.publish(BILLING_FILES, key=event.file_id, value=encode_record(event))
            announced += 1
            rt.count("schedule.events")
    return announced


async def reannounce_stale(rt: Runtime, last_sent: MutableMapping[str, float], *, now: float | None = None) -> int:
    """Announce again every file the ledger says was abandoned (claim lapsed, never claimed, parsed but
    never loaded); returns how many. Each file at most once per ``unclaimed_after_s``; ``last_sent``
    (wall-clock seconds) is keyed by ``tenant/file id``.

    This is the takeover path when the parse role runs no replica (KEDA scaled it to zero): the
    announcement is lag on ``billing-files``, which scales parse up again, and the ledger claim lets
    exactly one worker parse the file (a parse worker's own takeover timer may race it: harmless).
    """
    if rt.ledger is None or not rt.ledger.enabled:
        return 0
    now = time.time() if now is None else now
    sent = 0
    for event in await rt.ledger.stale_announcements():
        slot = f"{event.tenant}/{event.file_id}"
        if now - last_sent.get(slot, float("-inf")) < rt.settings.ingest.unclaimed_after_s:
            continue
        await rt.publish(BILLING_FILES, key=event.file_id, value=encode_record(event))
        last_sent[slot] = now
        sent += 1
        rt.count("schedule.reannounced")
    return sent


class Scheduler:
    """The schedule role's ticks, with their memory in ``public.worker_state`` (see module doc)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.state = WorkerState(rt.settings, "schedule")
        self.router = Router(rt.settings) if rt.settings.postgres.dsn else None  # idle without a control plane

    async def scan(self) -> int:
        """One schedule tick: :func:`scan_due_sources` with the listing times kept across restarts."""
        stored = await self.state.items(_LISTED)
        last_run = {f"{t}/{k.removeprefix(_LISTED)}": float(v) for (t, k), v in stored.items()}
        before = dict(last_run)
        try:
            return await scan_due_sources(self.rt, last_run, router=self.router)
        finally:
            for slot, at in last_run.items():
                if before.get(slot) != at:
                    tenant, source_id = slot.split("/", 1)
                    await self.state.put(tenant, {_LISTED + source_id: at})

    async def takeover(self) -> int:
        """One takeover tick: :func:`reannounce_stale` with the announcement times kept across restarts
        (an announcement older than ``unclaimed_after_s`` no longer matters and is forgotten)."""
        stored = await self.state.items(_ANNOUNCED)
        last_sent = {f"{t}/{k.removeprefix(_ANNOUNCED)}": float(v) for (t, k), v in stored.items()}
        before = dict(last_sent)
        now = time.time()
        sent = await reannounce_stale(self.rt, last_sent, now=now)
        for slot, at in last_sent.items():
            tenant, file_id = slot.split("/", 1)
            if now - at >= self.rt.settings.ingest.unclaimed_after_s:
                await self.state.drop(tenant, _ANNOUNCED + file_id)
            elif before.get(slot) != at:
                await self.state.put(tenant, {_ANNOUNCED + file_id: at})
        return sent
