"""The file ledger's state machine: the one place that decides a file's next state.

A file's ledger row moves ``seen`` -> ``parsing`` (claimed) -> ``parsed`` -> ``loaded`` ->
``reconciled``; or to ``rejected`` (bad data, superseded, another dataset) or ``failed``
(transient failure: claimable again by the next retry round or takeover; or landed rows that
do not reconcile). A manifest or snapshot object is ``reconciled`` as soon as its period
version is registered. Parse and load call the verbs below, never the ledger's ``advance``;
each move is followed by a live ``file`` event (Redis, when configured).

Moves that follow durable work (the batches are published, the receipt is out) are best
effort: a failure is logged, never turned into an abort that would remove rows that landed.
Without a control plane (``rt.ledger`` None or disabled) every verb does nothing.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Literal

from cloudops.errors import ErrorKind
from cloudops.schemas.events import BillingFile, BillingLoaded
from cloudops.service import live
from cloudops.sources.converter import FileConversion
from cloudops.topics.ledger import Claim
from cloudops.topics.runtime import Runtime

__all__ = ["FileLifecycle"]

log = logging.getLogger(__name__)


class FileLifecycle:
    """Every move of a file's ledger row, named by what happened to the file."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    @property
    def enabled(self) -> bool:
        return self.rt.ledger is not None and self.rt.ledger.enabled

    async def announced(self, event: BillingFile) -> bool:
        """A trigger saw the object (``seen``); True if the ledger did not know this version yet."""
        return self.rt.ledger is not None and await self.rt.ledger.record_announced(event)

    async def claim(self, event: BillingFile) -> Claim | None:
        """``seen`` -> ``parsing`` for this worker; None when another worker has it or it is done."""
        assert self.rt.ledger is not None
        claim = await self.rt.ledger.claim(event)
        if claim is not None:
            log.info("parse: claimed %s (file %s)", event.url, event.file_id)
            await self._tell(event.tenant, event.file_id)
        return claim

    def holding(self, claim: Claim | None) -> contextlib.AbstractAsyncContextManager[Claim | None]:
        """Keep ``claim`` alive (heartbeats) while the block fetches, converts and publishes."""
        if self.rt.ledger is None or claim is None:
            return contextlib.nullcontext(claim)
        return self.rt.ledger.holding(claim)

    async def still_held(self, claim: Claim | None) -> bool:
        """Whether this worker still owns the file (True without a ledger, or when the ledger cannot tell)."""
        if claim is None or self.rt.ledger is None:
            return True
        try:
            return await self.rt.ledger.still_held(claim)
        except Exception as exc:
            log.warning("parse: could not check the claim on %s: %s", claim.file_id, exc)
            return not claim.lost

    async def parsed(self, event: BillingFile, claim: Claim | None, conv: FileConversion) -> None:
        """Every batch and the end record are out: ``parsed`` (best effort, the loader moves it on anyway)."""
        if self.rt.ledger is None:
            return
        try:
            await self.rt.ledger.advance(
                event.tenant,
                event.file_id,
                "parsed",
                claim,
                rows_in=conv.rows_in,
                rows_rejected=conv.rows_rejected,
                source_totals=conv.source_totals,
                warnings=conv.warnings,
            )
        except Exception as exc:
            log.warning("parse: %s is published but its ledger row was not moved to parsed: %s", event.url, exc)
        await self._tell(event.tenant, event.file_id)

    async def given_up(self, event: BillingFile, kind: ErrorKind, reason: str, claim: Claim | None) -> None:
        """The file is dead-lettered: ``rejected`` for bad data, else ``failed`` (best effort)."""
        state: Literal["rejected", "failed"] = "rejected" if kind == "bad_data" else "failed"
        await self._best_effort(event, state, claim, reason, f"could not mark {event.url} {state} in the ledger")

    async def retrying(self, event: BillingFile, reason: str, claim: Claim | None) -> None:
        """Parked for a later retry round: ``failed``, so that round can claim it again."""
        await self._best_effort(
            event, "failed", claim, reason, f"ledger not updated for {event.url}", level=logging.INFO
        )

    async def superseded(self, event: BillingFile, reason: str, claim: Claim | None) -> None:
        """Overwritten before it was read: ``rejected`` (its newer version is ingested on its own)."""
        await self._best_effort(
            event, "rejected", claim, f"superseded: {reason}", f"could not mark {event.url} superseded in the ledger"
        )

    async def skipped(self, event: BillingFile, reason: str) -> None:
        """A manifest of a dataset this source does not ingest: ``rejected`` (raises if the ledger fails)."""
        assert self.rt.ledger is not None
        await self.rt.ledger.advance(event.tenant, event.file_id, "rejected", error=reason)
        await self._tell(event.tenant, event.file_id)

    async def listed(self, event: BillingFile) -> None:
        """A manifest or snapshot whose period version is registered: ``reconciled`` (raises if the ledger fails)."""
        assert self.rt.ledger is not None
        await self.rt.ledger.advance(event.tenant, event.file_id, "reconciled")
        await self._tell(event.tenant, event.file_id)

    async def loading(self, tenant: str, file_id: str) -> None:
        """The loader is inserting the file's batches: keep a ``parsed`` file from looking lost."""
        if self.enabled:
            assert self.rt.ledger is not None
            await self.rt.ledger.loading(tenant, file_id)

    async def loaded(self, receipt: BillingLoaded) -> None:
        """The receipt is out: ``loaded``, then ``reconciled`` or ``failed`` with the mismatch.

        Best effort after the durable receipt: a ledger row already past this point (a
        redelivered end record) or an unreachable control plane is logged, not retried.
        """
        ledger = self.rt.ledger
        if ledger is None or not ledger.enabled or receipt.status != "complete":
            return
        try:
            await ledger.advance(receipt.tenant, receipt.file_id, "loaded", rows_landed=receipt.rows_landed)
            await self._tell(receipt.tenant, receipt.file_id)
            if receipt.reconciled:
                await ledger.advance(receipt.tenant, receipt.file_id, "reconciled", landed_totals=receipt.landed_totals)
            else:
                await ledger.advance(
                    receipt.tenant, receipt.file_id, "failed", error="landed rows or cost differ from the source"
                )
        except Exception as exc:  # see docstring
            log.info("load: ledger not advanced for %s: %s", receipt.file_url, exc)
        await self._tell(receipt.tenant, receipt.file_id)

    async def _best_effort(
        self,
        event: BillingFile,
        state: Literal["rejected", "failed"],
        claim: Claim | None,
        error: str,
        failure: str,
        *,
        level: int = logging.WARNING,
    ) -> None:
        if self.rt.ledger is None:
            return
        try:
            await self.rt.ledger.advance(event.tenant, event.file_id, state, claim, error=error)
        except Exception as exc:  # the dead letter (or retry record) still carries the file
            log.log(level, "parse: %s: %s", failure, exc)
        await self._tell(event.tenant, event.file_id)

    async def _tell(self, tenant: str, file_id: str) -> None:
        await live.publish_file(self.rt.settings, tenant, file_id)
