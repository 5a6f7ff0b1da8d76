"""Swapping a restated billing period in: a period version goes live once every file of it reconciled.

The files of a version land in ``focus_pending`` under the version's tag. When the last one
reconciles, the loader claims the version in the control plane, swaps its rows in over the
period's previous version (:func:`cloudops.sinks.clickhouse.periods.promote_pending`), records
the swap, drops the pending rows of versions that are done, and publishes ``billing-periods``.
A swap that fails or races is retried by :meth:`Promoter.sweep` (a timer of the load role).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import date

from cloudops.errors import BadDataError
from cloudops.ingest.warehouse import Warehouse
from cloudops.metrics import END_TO_END_SECONDS, PERIODS
from cloudops.schemas.events import PeriodSwapped
from cloudops.service import live
from cloudops.sinks.clickhouse.periods import drop_pending, pending_tag, promote_pending
from cloudops.topics.codec import encode_record
from cloudops.topics.runtime import Runtime
from cloudops.topics.specs import BILLING_PERIODS

__all__ = ["Promoter"]

log = logging.getLogger(__name__)


class Promoter:
    """Swaps complete period versions in (claimed in the control plane, so one worker does each)."""

    def __init__(self, rt: Runtime, warehouse: Warehouse) -> None:
        self.rt = rt
        self.warehouse = warehouse

    async def maybe_promote(self, tenant: str, source_id: str, period: date, version: str) -> bool:
        """Swap the period version in if all its files are reconciled. Never raises; False if not swapped.

        A failure here is logged and left to the sweeper (:meth:`sweep`), which retries
        versions that are complete but not live.
        """
        ledger = self.rt.ledger
        if ledger is None or not ledger.enabled:
            return False
        try:
            progress = await ledger.version_progress(tenant, source_id, period, version)
            if progress is None or not progress.complete:
                return False
            return await self.promote(tenant, source_id, period, version)
        except Exception as exc:
            log.warning("load: %s %s version %s not swapped in yet: %s", source_id, period, version, exc)
            return False

    async def promote(self, tenant: str, source_id: str, period: date, version: str) -> bool:
        """Claim and swap in one complete period version; publish ``billing-periods``. True if swapped."""
        ledger = self.rt.ledger
        assert ledger is not None
        claimed = await ledger.begin_promotion(tenant, source_id, period, version)
        if claimed is None:
            return False
        wh = self.warehouse
        await wh.ensure_tenant(tenant)
        tag = pending_tag(source_id, version)
        try:
            promoted = await wh.retry(
                lambda: asyncio.to_thread(promote_pending, wh.ch, tenant, period, source_id, tag),
                f"swap {source_id} {period:%Y-%m}",
            )
        except BadDataError as exc:
            await ledger.fail_promotion(tenant, source_id, period, version, exc.reason)
            PERIODS.labels("failed").inc()
            log.error("load: %s %s version %s cannot be swapped in: %s", source_id, period, version, exc.reason)
            return False
        except BaseException:
            # Let the sweeper retry soon instead of waiting for the claim's lease to expire.
            with contextlib.suppress(Exception):
                await ledger.release_promotion(tenant, source_id, period, version)
            raise
        replaced = await ledger.finish_promotion(
            tenant, source_id, period, version, rows_landed=promoted.rows, landed_totals=promoted.totals
        )
        for pv in await ledger.versions(tenant, source_id, period):
            if pv.state in ("live", "superseded", "failed"):
                done_tag = pending_tag(source_id, pv.version)
                await wh.retry(
                    lambda done_tag=done_tag: asyncio.to_thread(  # type: ignore[misc]
                        drop_pending, wh.ch, tenant, period, done_tag
                    ),
                    f"drop pending {source_id} {period:%Y-%m}",
                )
        swapped = PeriodSwapped(
            tenant=tenant,
            source_id=source_id,
            period=period,
            period_version=version,
            replaced_version=replaced,
            files=len(set(claimed.files)),
            rows_landed=promoted.rows,
            landed_totals=promoted.totals,
        )
        await wh.announce(tenant, f"period:{source_id}/{period:%Y-%m}", {"period_version": version})
        await self.rt.publish(BILLING_PERIODS, key=f"{source_id}/{period:%Y-%m}", value=encode_record(swapped))
        await live.publish_period(self.rt.settings, tenant, swapped.model_dump(mode="json"))
        PERIODS.labels("swapped").inc()
        END_TO_END_SECONDS.labels("period").observe((swapped.swapped_at - claimed.delivered_at).total_seconds())
        log.info(
            "load: swapped in %s %s version %s (%d rows, replaced %s)",
            source_id,
            f"{period:%Y-%m}",
            version,
            promoted.rows,
            replaced,
        )
        return True

    async def sweep(self) -> int:
        """Swap in every complete version not yet live (after a crash or a lost race). Returns how many."""
        ledger = self.rt.ledger
        if ledger is None or not ledger.enabled:
            return 0
        done = 0
        for tenant, pv in await ledger.promotable():
            if await self.maybe_promote(tenant, pv.source_id, pv.period, pv.version):
                done += 1
        return done
