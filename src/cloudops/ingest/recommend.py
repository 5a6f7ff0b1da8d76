"""Recommend: after each load, look for savings in the tenant's newest month; publish ``recommendations``.

Runs on every reconciled ``billing-loaded`` receipt of a visible file (a staged file of a
restated period waits for its ``billing-periods`` swap), reads the months the file
touched through the analytics layer, runs every recommender (pure functions), records
the findings in the tenant's lifecycle table (when a control plane is configured: a
recommendation found again updates its row, never a duplicate) and publishes each one
keyed by its fingerprint. Idempotent: a redelivered receipt finds the same fingerprints.
When the tenant last ran is kept in ``public.worker_state`` (:class:`~cloudops.ingest.state.WorkerState`),
so coalescing holds across restarts and replicas.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from cloudops.errors import CloudopsError
from cloudops.ingest.state import WorkerState
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
from cloudops.topics.runtime import Handler, Message, Runtime, Subject
from cloudops.topics.specs import BILLING_LOADED, BILLING_PERIODS, RECOMMENDATIONS

__all__ = ["Recommender"]

log = logging.getLogger(__name__)
_SKEW = timedelta(seconds=2)


class Recommender:
    """Runs the recommenders for a tenant's month and publishes what they find."""

    @classmethod
    def connect(cls, rt: Runtime) -> Recommender:
        """A recommender reading the deployment's ClickHouse."""
        return cls(rt, Analytics(connect(rt.settings.clickhouse_dsn)))

    def __init__(self, rt: Runtime, analytics: Analytics) -> None:
        self.rt = rt
        self.analytics = analytics
        self._sink = sink_for(rt.settings)
        self.state = WorkerState(rt.settings, "recommend")

    async def _latest(self, tenant: str, data_at: datetime) -> int:
        """Run on the tenant's newest month, unless a run that began after ``data_at`` already saw this data.

        Receipts are published after their rows are in ClickHouse, so a run that started
        later (with a margin for clock skew between workers) included them: a burst of
        receipts (a month of files landing together) costs one or two runs, not one per file.
        """
        last = await self.state.get(tenant, "last_run")
        if last is not None and data_at < datetime.fromisoformat(last) - _SKEW:
            self.rt.count("recommend.coalesced")
            return 0
        await self.state.put(tenant, {"last_run": datetime.now(UTC).isoformat()})
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

    def handlers(self) -> tuple[Handler[BillingLoaded], Handler[PeriodSwapped]]:
        """The agent's handlers: receipts of loaded files and swapped period versions."""
        loaded: Handler[BillingLoaded] = Handler(
            BILLING_LOADED,
            "recommend",
            decode=lambda m: decode_record(BillingLoaded, m.value),
            process=self._on_loaded,
            subject=lambda r: Subject(r.tenant),
            reason_prefix="recommend: ",
        )
        swapped: Handler[PeriodSwapped] = Handler(
            BILLING_PERIODS,
            "recommend",
            decode=lambda m: decode_record(PeriodSwapped, m.value),
            process=self._on_swapped,
            subject=lambda s: Subject(s.tenant),
            reason_prefix="recommend: ",
        )
        return loaded, swapped

    async def _on_loaded(self, receipt: BillingLoaded, _: Message) -> None:
        await self.on_loaded(receipt)

    async def _on_swapped(self, swapped: PeriodSwapped, _: Message) -> None:
        await self.on_swapped(swapped)
