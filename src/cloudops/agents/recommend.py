"""``recommend``: after each load, look for savings in the loaded months; publish ``recommendations``.

Runs on every reconciled ``billing-loaded`` receipt of a visible file (a staged file of a
restated period waits for its ``billing-periods`` swap), reads the months the file
touched through the analytics layer, runs every recommender (pure functions), records
the findings in the tenant's lifecycle table (when a control plane is configured: a
recommendation found again updates its row, never a duplicate) and publishes each one
keyed by its fingerprint. Idempotent: a redelivered receipt finds the same fingerprints.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from cloudops.errors import CloudopsError, classify, describe
from cloudops.metrics import RECOMMENDATIONS_FOUND
from cloudops.recommend import recommend
from cloudops.schemas.events import BillingLoaded, PeriodSwapped
from cloudops.service import Caller
from cloudops.service.recommendations import revive_dismissed
from cloudops.sinks.analytics import Analytics
from cloudops.sinks.clickhouse import connect
from cloudops.sinks.github import sink_for
from cloudops.sinks.postgres.recommendations import RecommendationStore, StoredRecommendation
from cloudops.sinks.recommend_input import fetch_usage, file_months
from cloudops.topics.codec import decode_record, encode_record
from cloudops.topics.runtime import Runtime
from cloudops.topics.specs import BILLING_LOADED, BILLING_PERIODS, RECOMMENDATIONS, TopicSpec

__all__ = ["Recommender", "register"]

log = logging.getLogger(__name__)
_SKEW = timedelta(seconds=2)


class Recommender:
    """Runs the recommenders for a tenant's month and publishes what they find."""

    def __init__(self, rt: Runtime, analytics: Analytics) -> None:
        self.rt = rt
        self.analytics = analytics
        self._sink = sink_for(rt.settings)
        self._last_run: dict[str, datetime] = {}

    async def _latest(self, tenant: str, data_at: datetime) -> int:
        """Run on the tenant's newest month, unless a run that began after ``data_at`` already saw this data.

        Receipts are published after their rows are in ClickHouse, so a run that started
        later (with a margin for clock skew between workers) included them: a burst of
        receipts (a month of files landing together) costs one or two runs, not one per file.
        """
        last = self._last_run.get(tenant)
        if last is not None and data_at < last - _SKEW:
            self.rt.count("recommend.coalesced")
            return 0
        self._last_run[tenant] = datetime.now(UTC)
        months = await file_months(self.analytics, tenant, None)
        return await self.run(tenant, months[-1]) if months else 0

    async def on_loaded(self, receipt: BillingLoaded) -> int:
        """Recommend for the months of a loaded file. Returns recommendations published."""
        if not receipt.reconciled or receipt.status != "complete" or receipt.period_version is not None:
            return 0
        if not await file_months(self.analytics, receipt.tenant, receipt.file_id):
            return 0
        # Advice is about the tenant's newest month (older months are its history), whichever
        # month this file brought: one resource's recommendation keeps one fingerprint, and
        # its PR must not flip between months' figures as late or restated files arrive.
        return await self._latest(receipt.tenant, receipt.loaded_at)

    async def on_swapped(self, swapped: PeriodSwapped) -> int:
        return await self._latest(swapped.tenant, swapped.swapped_at)

    async def run(self, tenant: str, period: str) -> int:
        """Find, record and publish the recommendations of ``tenant`` for month ``period`` (``YYYY-MM``)."""
        usage = await fetch_usage(
            self.analytics,
            tenant,
            period,
            history_months=self.rt.settings.recommend.history_months,
            use_cache=False,
        )
        found = recommend(usage.rows, usage.context())
        dsn = self.rt.settings.postgres.dsn
        if dsn:
            result = await asyncio.to_thread(RecommendationStore(dsn, tenant).upsert, found)
            if result.superseded:
                log.info("recommend: %d earlier recommendations superseded", len(result.superseded))
                await self.close_superseded(result.superseded)
            await self.revive(tenant)
        for rec in found:
            await self.rt.publish(RECOMMENDATIONS, key=rec.fingerprint, value=encode_record(rec))
            RECOMMENDATIONS_FOUND.labels(rec.kind).inc()
        self.rt.count("recommend.published", len(found))
        log.info("recommend: %s %s: %d recommendations from %d usage rows", tenant, period, len(found), len(usage.rows))
        return len(found)

    async def revive(self, tenant: str) -> None:
        """Reopen dismissed recommendations whose snooze ended or whose savings changed materially."""
        caller = Caller(actor="agent:recommend", tenant=tenant, settings=self.rt.settings)
        try:
            revived = await asyncio.to_thread(revive_dismissed, caller)
        except CloudopsError as exc:  # e.g. a tenant schema not migrated to 0010 yet: nothing to revive
            log.debug("recommend: no revival check for %s: %s", tenant, exc)
            return
        if revived:
            log.info("recommend: %s: %d dismissed recommendation(s) may be proposed again", tenant, len(revived))

    async def close_superseded(self, superseded: list[StoredRecommendation]) -> None:
        """Close the pull requests of recommendations a newer one replaced (best effort, idempotent)."""
        if self._sink is None:
            return
        sink, repo = self._sink
        for old in superseded:
            if old.pr_number is None:
                continue
            note = (
                f"Superseded by a newer cloudops recommendation for `{old.resource_id}` "
                f"({old.superseded_by or 'see the new pull request'}); closing this one."
            )
            try:
                await sink.close(repo, old.pr_number, note)
                self.rt.count("recommend.prs_closed")
            except Exception as exc:  # the PR stays open; the lifecycle row already says superseded
                log.warning("recommend: could not close PR #%s: %s", old.pr_number, exc)

    async def handle(
        self, spec: TopicSpec, key: bytes | None, value: bytes | None, partition: int, offset: int
    ) -> None:
        """Process one receipt; never raises for bad data or dependency failures (they are dead-lettered)."""
        tenant = None
        try:
            if spec is BILLING_PERIODS:
                swapped = decode_record(PeriodSwapped, value)
                tenant = swapped.tenant
                await self.on_swapped(swapped)
            else:
                receipt = decode_record(BillingLoaded, value)
                tenant = receipt.tenant
                await self.on_loaded(receipt)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            kind = classify(exc)
            if kind == "bug":
                log.exception("recommend: unexpected error")
            reason = describe(exc)
            await self.rt.dead_letter(
                spec,
                error_kind=kind,
                reason=f"recommend: {reason}",
                key=key,
                value=value,
                partition=partition,
                offset=offset,
                tenant=tenant,
            )


def register(app: Any, rt: Runtime) -> None:
    """Add the recommend agent (on billing-loaded and billing-periods) to the app."""
    recommender = Recommender(rt, Analytics(connect(rt.settings.clickhouse_dsn)))

    for spec in (BILLING_LOADED, BILLING_PERIODS):

        async def consume(stream: Any, spec: TopicSpec = spec) -> None:
            async for event in stream.events():
                msg = event.message
                await recommender.handle(spec, msg.key, msg.value, msg.partition, msg.offset)

        app.agent(rt.topic(spec), name=f"cloudops.recommend.{spec.name}")(consume)
