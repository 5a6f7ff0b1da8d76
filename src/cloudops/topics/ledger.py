"""The file ledger as the agents use it: optional, async, and never a reason to lose a file.

With ``CLOUDOPS_POSTGRES__DSN`` set, every announced file whose bucket/key matches a
registered source is recorded in the tenant's ledger, and a parse worker first claims
it: a file seen by both triggers, or delivered twice, is parsed once in effect. Without
a control plane (the embedded demo), or for objects of no registered source, files are
processed as before (idempotent inserts still prevent duplicate rows).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from cloudops.schemas.events import BillingFile
from cloudops.settings import Settings
from cloudops.sinks.postgres import ledger, periods
from cloudops.sinks.postgres.tenants import list_tenants

__all__ = ["Claim", "FileLedger"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Claim:
    """A parse worker's hold on one file.

    ``attempt`` is the ledger's ``attempts`` count when this worker claimed the file: a
    fencing token. Another worker that takes the file over (the claim lapsed) bumps it, and
    from then on this worker's heartbeats fail and its ledger moves are refused, so a worker
    that was merely slow never marks, aborts or re-routes a file it no longer owns. ``None``:
    the file has no ledger row (no control plane or no registered source), nothing to fence.
    """

    tenant: str
    file_id: str
    attempt: int | None
    lost: bool = False


class FileLedger:
    """Thin async wrapper over :mod:`cloudops.sinks.postgres.ledger` (blocking calls run in threads)."""

    def __init__(self, settings: Settings) -> None:
        self.dsn = settings.postgres.dsn
        self.lease_s = settings.ingest.claim_lease_s
        self.reparse_after_s = settings.ingest.reparse_after_s
        self.unclaimed_after_s = settings.ingest.unclaimed_after_s

    @property
    def enabled(self) -> bool:
        return bool(self.dsn)

    async def source(self, event: BillingFile) -> ledger.Source | None:
        """The registered source of the object (by bucket and longest prefix), if any."""
        if not self.dsn or not event.bucket:
            return None
        return await asyncio.to_thread(ledger.source_for_object, self.dsn, event.tenant, event.bucket, event.key)

    async def source_of(self, event: BillingFile) -> str | None:
        if not self.dsn:
            return None
        if event.source_id:
            return event.source_id
        src = await self.source(event)
        return src.id if src else None

    async def record_announced(self, event: BillingFile) -> bool:
        """Record the sighting (state ``seen``, with the announcement) without claiming, in one statement.

        True if this object version is new to the ledger (announce it); False if it was seen
        before, by any trigger, or has no ledger row (no control plane or no source). A trigger
        records what it announces, so a file whose announcement is never consumed (a consumer
        group stuck in a rebalance) is still found and taken over by a parse worker.
        """
        source_id = await self.source_of(event)
        if not self.dsn or source_id is None:
            return False
        return await self._record_seen(event, source_id)

    async def claim(self, event: BillingFile) -> Claim | None:
        """Record the sighting and claim the file for parsing. None: someone else has it or it is done."""
        source_id = await self.source_of(event)
        if not self.dsn or source_id is None:
            return Claim(event.tenant, event.file_id, None)
        await self._record_seen(event, source_id)
        entry = await asyncio.to_thread(
            ledger.claim,
            self.dsn,
            event.tenant,
            event.file_id,
            lease_s=self.lease_s,
            reparse_after_s=self.reparse_after_s,
        )
        if entry is None:
            log.info("ledger: %s already parsed or being parsed; skipping this delivery", event.url)
            return None
        return Claim(event.tenant, event.file_id, entry.attempts)

    async def still_held(self, claim: Claim) -> bool:
        """Heartbeat: renew the claim; False (and ``claim.lost``) once another worker has the file."""
        if claim.lost:
            return False
        if not self.dsn or claim.attempt is None:
            return True
        held = await asyncio.to_thread(ledger.touch, self.dsn, claim.tenant, claim.file_id, attempt=claim.attempt)
        if not held:
            claim.lost = True
        return held

    @contextlib.asynccontextmanager
    async def holding(self, claim: Claim) -> AsyncIterator[Claim]:
        """Heartbeat ``claim`` every third of the lease while the block runs (fetching, converting,
        publishing), so a long file is not taken over from a live worker. ``claim.lost`` turns True
        if it was taken over anyway (this worker stalled longer than the lease)."""
        if not self.dsn or claim.attempt is None:
            yield claim
            return

        async def beat() -> None:
            while not claim.lost:
                await asyncio.sleep(self.lease_s / 3)
                try:
                    if not await self.still_held(claim):
                        log.warning("ledger: lost the claim on file %s to another worker", claim.file_id)
                except Exception as exc:  # a missed heartbeat at worst lets a second worker parse it too
                    log.warning("ledger: claim heartbeat for file %s failed: %s", claim.file_id, exc)

        task = asyncio.create_task(beat(), name=f"claim-heartbeat-{claim.file_id}")
        try:
            yield claim
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _record_seen(self, event: BillingFile, source_id: str) -> bool:
        """Upsert the ledger row; True if it was created now (first sighting)."""
        assert self.dsn
        version = event.version_id or event.etag or ""
        if event.period_version:
            # The same object listed by two versions of a period is two ledger rows.
            version = f"{version}@{event.period_version}"
        _, first = await asyncio.to_thread(
            ledger.record_seen,
            self.dsn,
            event.tenant,
            source_id=source_id,
            object_key=event.key,
            version=version,
            file_id=event.file_id,
            url=event.url,
            trigger=event.trigger,
            period=event.period,
            period_version=event.period_version,
            event=event.model_dump(mode="json"),
        )
        return first

    async def loading(self, tenant: str, file_id: str) -> None:
        """The loader is inserting this file's batches: keep a ``parsed`` file from looking lost."""
        if self.dsn:
            await asyncio.to_thread(ledger.touch_loading, self.dsn, tenant, file_id)

    async def stale_announcements(self) -> list[BillingFile]:
        """Files (any tenant) whose parse claim lapsed, that were announced and never claimed for
        ``unclaimed_after_s``, or parsed and never loaded for ``reparse_after_s``: to be taken over."""
        if not self.dsn:
            return []
        out: list[BillingFile] = []
        for tenant in await asyncio.to_thread(list_tenants, self.dsn):
            events = await asyncio.to_thread(
                ledger.stale_claims,
                self.dsn,
                tenant.id,
                older_than_s=self.lease_s * 2,
                unclaimed_older_than_s=self.unclaimed_after_s,
                parsed_older_than_s=self.reparse_after_s,
            )
            out.extend(BillingFile.model_validate(e) for e in events)
        return out

    async def advance(
        self, tenant: str, file_id: str, state: ledger.State, claim: Claim | None = None, **fields: object
    ) -> None:
        """Move the file's ledger row, if it has one (files of no registered source have none).

        With ``claim``, only while that claim is current (ValueError otherwise: the file was taken over).
        """
        if claim is not None and claim.attempt is not None:
            fields["attempt"] = claim.attempt
        if not self.dsn:
            return
        entry = await asyncio.to_thread(ledger.get_file, self.dsn, tenant, file_id)
        if entry is None:
            return
        await asyncio.to_thread(ledger.advance, self.dsn, tenant, file_id, state, **fields)  # type: ignore[arg-type]

    # -- period versions (restatements); every call needs the control plane -----------------

    def _need_dsn(self) -> str:
        if not self.dsn:
            raise RuntimeError("period versions need the control plane (CLOUDOPS_POSTGRES__DSN)")
        return self.dsn

    async def register_version(
        self,
        tenant: str,
        *,
        source_id: str,
        period: date,
        version: str,
        manifest_key: str,
        delivered_at: datetime,
        files: Sequence[str],
    ) -> periods.PeriodVersion:
        return await asyncio.to_thread(
            periods.register_version,
            self._need_dsn(),
            tenant,
            source_id=source_id,
            period=period,
            version=version,
            manifest_key=manifest_key,
            delivered_at=delivered_at,
            files=files,
        )

    async def version_progress(
        self, tenant: str, source_id: str, period: date, version: str
    ) -> periods.VersionProgress | None:
        return await asyncio.to_thread(periods.version_progress, self._need_dsn(), tenant, source_id, period, version)

    async def begin_promotion(
        self, tenant: str, source_id: str, period: date, version: str
    ) -> periods.PeriodVersion | None:
        return await asyncio.to_thread(periods.begin_promotion, self._need_dsn(), tenant, source_id, period, version)

    async def finish_promotion(
        self,
        tenant: str,
        source_id: str,
        period: date,
        version: str,
        *,
        rows_landed: int,
        landed_totals: Mapping[str, Decimal],
    ) -> str | None:
        return await asyncio.to_thread(
            periods.finish_promotion,
            self._need_dsn(),
            tenant,
            source_id,
            period,
            version,
            rows_landed=rows_landed,
            landed_totals=landed_totals,
        )

    async def fail_promotion(self, tenant: str, source_id: str, period: date, version: str, error: str) -> None:
        await asyncio.to_thread(
            periods.fail_promotion, self._need_dsn(), tenant, source_id, period, version, error=error
        )

    async def release_promotion(self, tenant: str, source_id: str, period: date, version: str) -> None:
        await asyncio.to_thread(periods.release_promotion, self._need_dsn(), tenant, source_id, period, version)

    async def promotable(self) -> list[tuple[str, periods.PeriodVersion]]:
        """(tenant, version) pairs ready to be swapped in, across every registered tenant."""
        dsn = self._need_dsn()
        out: list[tuple[str, periods.PeriodVersion]] = []
        for tenant in await asyncio.to_thread(list_tenants, dsn):
            for pv in await asyncio.to_thread(periods.promotable, dsn, tenant.id):
                out.append((tenant.id, pv))
        return out

    async def versions(self, tenant: str, source_id: str, period: date) -> list[periods.PeriodVersion]:
        return await asyncio.to_thread(
            periods.list_versions, self._need_dsn(), tenant, source_id=source_id, period=period
        )
