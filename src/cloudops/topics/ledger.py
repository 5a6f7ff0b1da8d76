"""The file ledger as the agents use it: optional, async, and never a reason to lose a file.

With ``CLOUDOPS_POSTGRES__DSN`` set, every announced file whose bucket/key matches a
registered source is recorded in the tenant's ledger, and a parse worker first claims
it: a file seen by both triggers, or delivered twice, is parsed once in effect. Without
a control plane (the embedded demo), or for objects of no registered source, files are
processed as before (idempotent inserts still prevent duplicate rows).
"""

from __future__ import annotations

import asyncio
import logging

from cloudops.schemas.events import BillingFile
from cloudops.settings import Settings
from cloudops.sinks.postgres import ledger

__all__ = ["FileLedger"]

log = logging.getLogger(__name__)


class FileLedger:
    """Thin async wrapper over :mod:`cloudops.sinks.postgres.ledger` (blocking calls run in threads)."""

    def __init__(self, settings: Settings) -> None:
        self.dsn = settings.postgres.dsn
        self.lease_s = 900

    @property
    def enabled(self) -> bool:
        return bool(self.dsn)

    async def source_of(self, event: BillingFile) -> str | None:
        if not self.dsn:
            return None
        if event.source_id:
            return event.source_id
        if not event.bucket:
            return None
        src = await asyncio.to_thread(ledger.source_for_object, self.dsn, event.tenant, event.bucket, event.key)
        return src.id if src else None

    async def claim(self, event: BillingFile) -> bool:
        """Record the sighting and claim the file for parsing. False: someone else has it or it is done."""
        source_id = await self.source_of(event)
        if not self.dsn or source_id is None:
            return True
        version = event.version_id or event.etag or ""
        await asyncio.to_thread(
            ledger.record_seen,
            self.dsn,
            event.tenant,
            source_id=source_id,
            object_key=event.key,
            version=version,
            file_id=event.file_id,
            url=event.url,
            trigger=event.trigger,
        )
        entry = await asyncio.to_thread(ledger.claim, self.dsn, event.tenant, event.file_id, lease_s=self.lease_s)
        if entry is None:
            log.info("ledger: %s already parsed or being parsed; skipping this delivery", event.url)
            return False
        return True

    async def advance(self, tenant: str, file_id: str, state: ledger.State, **fields: object) -> None:
        """Move the file's ledger row, if it has one (files of no registered source have none)."""
        if not self.dsn:
            return
        entry = await asyncio.to_thread(ledger.get_file, self.dsn, tenant, file_id)
        if entry is None:
            return
        await asyncio.to_thread(ledger.advance, self.dsn, tenant, file_id, state, **fields)  # type: ignore[arg-type]
