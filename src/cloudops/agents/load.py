"""``load``: ``focus-batches`` -> ClickHouse ``tenant_<t>.focus``, then ``billing-loaded`` receipts.

Inserts are idempotent (the batch id is the insert deduplication token), so a
redelivered batch never doubles a row. When a file's end record arrives, every batch
before it on the partition has been inserted; the loader then counts the file's rows
and cost in ClickHouse and publishes the receipt, reconciled against the parser's totals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import date
from decimal import Decimal
from typing import Any

from cloudops.errors import BadDataError, classify, describe
from cloudops.metrics import END_TO_END_SECONDS, FILES, PERIODS, ROWS
from cloudops.schemas.events import BillingLoaded, FocusBatchEnvelope, PeriodSwapped
from cloudops.service import live
from cloudops.sinks.clickhouse import (
    ClickHouse,
    connect,
    database_for,
    file_landed,
    insert_focus_batch,
    migrate,
)
from cloudops.sinks.clickhouse.datasets import dataset_file_landed, delete_dataset_file, insert_dataset_batch
from cloudops.sinks.clickhouse.periods import drop_pending, pending_tag, promote_pending
from cloudops.sinks.redis import publish_loaded
from cloudops.topics.codec import decode_batch, decode_envelope, encode_record
from cloudops.topics.retry import RetriesExhausted, with_retries
from cloudops.topics.runtime import Runtime
from cloudops.topics.specs import BILLING_LOADED, BILLING_PERIODS, FOCUS_BATCHES

__all__ = ["Loader", "reconcile", "register"]

log = logging.getLogger(__name__)


def reconcile(
    env: FocusBatchEnvelope,
    rows_landed: int,
    landed: dict[str, Decimal],
    focus_rows_landed: int | None = None,
) -> bool:
    """rows in == landed + rejected, FOCUS rows landed == published (no loss, no duplicate),
    and per currency source == landed + rejected, exactly."""
    if env.rows_in is None or env.rows_rejected is None:
        return False
    if env.rows_in != rows_landed + env.rows_rejected:
        return False
    if focus_rows_landed is not None and env.focus_rows is not None and focus_rows_landed != env.focus_rows:
        return False
    source = env.source_totals or {}
    rejected = env.rejected_totals or {}
    for cur in set(source) | set(landed) | set(rejected):
        if source.get(cur, Decimal(0)) != landed.get(cur, Decimal(0)) + rejected.get(cur, Decimal(0)):
            return False
    return True


class Loader:
    """Loads focus batches for any tenant; provisions a tenant's database on first sight."""

    def __init__(self, rt: Runtime, ch: ClickHouse) -> None:
        self.rt = rt
        self.ch = ch
        self._ready: set[str] = set()
        self._beats: dict[str, float] = {}  # file id -> when the loader last touched its ledger row

    async def _retry(self, fn: Any, what: str) -> Any:
        """Retry a ClickHouse step through an outage of up to ``load.outage_budget_s``.

        While this waits, the agent takes no new message from its partitions: the consumer
        pauses instead of buffering (the broker keeps the backlog), so memory stays bounded.
        """
        ing = self.rt.settings.ingest
        return await with_retries(
            fn,
            what=what,
            attempts=ing.max_attempts,
            base_s=ing.backoff_base_s,
            max_s=ing.backoff_max_s,
            budget_s=self.rt.settings.load.outage_budget_s,
        )

    async def ensure_tenant(self, tenant: str) -> None:
        if tenant not in self._ready:
            window = self.rt.settings.clickhouse.dedup_window
            cluster = self.rt.settings.clickhouse.cluster
            await self._retry(
                lambda: asyncio.to_thread(migrate, self.ch, tenant, dedup_window=window, cluster=cluster),
                f"migrate {database_for(tenant)}",
            )
            self._ready.add(tenant)

    async def handle(
        self,
        key: bytes | None,
        value: bytes | None,
        headers: dict[str, bytes],
        partition: int | None,
        offset: int | None,
    ) -> None:
        """Process one ``focus-batches`` message. Never raises for bad data or dependency failures."""
        env: FocusBatchEnvelope | None = None
        attempts = 1
        try:
            env = decode_envelope(headers)
            await self.ensure_tenant(env.tenant)
            if env.kind == "rows":
                batch = decode_batch(value or b"")
                if batch.num_rows != env.row_count:
                    raise BadDataError(f"batch has {batch.num_rows} rows, envelope says {env.row_count}")
                staged = env.period_version is not None
                x_source = env.source_id
                if env.dataset != "CostAndUsage":  # a supporting FOCUS dataset: its own table, never staged
                    await self._retry(
                        lambda: insert_dataset_batch(
                            self.ch,
                            env.tenant,  # type: ignore[union-attr]
                            env.dataset,  # type: ignore[union-attr]
                            batch,
                            token=env.batch_id,  # type: ignore[union-attr]
                            x_source=x_source,
                        ),
                        f"insert {env.batch_id}",
                    )
                    await self._heartbeat(env)
                    self.rt.count("load.rows", batch.num_rows)
                    ROWS.labels("landed").inc(batch.num_rows)
                    return
                if staged:
                    if not env.source_id or env.period is None:
                        raise BadDataError("a staged batch needs source_id and period")
                    x_source = pending_tag(env.source_id, env.period_version or "")
                await self._retry(
                    lambda: insert_focus_batch(
                        self.ch,
                        env.tenant,  # type: ignore[union-attr]
                        batch,
                        token=env.batch_id,  # type: ignore[union-attr]
                        pending=staged,
                        x_source=x_source,
                    ),
                    f"insert {env.batch_id}",
                )
                if env.seq == 0:
                    log.info("load: loading %s (file %s)", env.file_url, env.file_id)
                await self._heartbeat(env)
                self.rt.count("load.rows", batch.num_rows)
                ROWS.labels("landed").inc(batch.num_rows)
            else:
                await self._finish_file(env)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            kind = classify(exc)
            if kind == "bug":
                log.exception("load: unexpected error")
            if isinstance(exc, RetriesExhausted):
                attempts = exc.attempts
            reason = describe(exc)
            await self.rt.dead_letter(
                FOCUS_BATCHES,
                error_kind=kind,
                reason=reason,
                key=key,
                value=value,
                partition=partition,
                offset=offset,
                attempts=attempts,
                tenant=env.tenant if env else None,
                file_id=env.file_id if env else None,
                file_url=env.file_url if env else None,
                headers=headers,
            )

    async def _heartbeat(self, env: FocusBatchEnvelope) -> None:
        """Touch the file's ledger row while its batches load (every ``reparse_after_s`` / 10 at most).

        A file ``parsed`` longer than ``reparse_after_s`` without a receipt counts as lost and is
        parsed again; a large file still loading behind a backlog must not be. Best effort.
        """
        ledger = self.rt.ledger
        if ledger is None or not ledger.enabled:
            return
        now = time.monotonic()
        every = self.rt.settings.ingest.reparse_after_s / 10
        if now - self._beats.get(env.file_id, -every) < every:
            return
        self._beats[env.file_id] = now
        if len(self._beats) > 10_000:  # forget files long finished
            self._beats = {f: t for f, t in self._beats.items() if now - t < every}
        try:
            await ledger.loading(env.tenant, env.file_id)
        except Exception as exc:
            log.info("load: ledger heartbeat for %s failed: %s", env.file_url, exc)

    async def _finish_file(self, env: FocusBatchEnvelope) -> None:
        self._beats.pop(env.file_id, None)
        staged = env.period_version is not None
        if env.dataset != "CostAndUsage":  # supporting datasets load straight into their own table
            if env.status == "aborted":
                await self._retry(
                    lambda: delete_dataset_file(self.ch, env.tenant, env.dataset, env.file_id),
                    f"remove aborted file {env.file_id}",
                )
            landed: Any = await self._retry(
                lambda: dataset_file_landed(self.ch, env.tenant, env.dataset, env.file_id), "count landed rows"
            )
        elif env.status == "aborted":
            table = f"{database_for(env.tenant)}.{'focus_pending' if staged else 'focus'}"
            await self._retry(
                lambda: self.ch.run(
                    lambda c: c.command(
                        f"DELETE FROM {table} WHERE x_FileId = {{fid:String}}",
                        parameters={"fid": env.file_id},
                    )
                ),
                f"remove aborted file {env.file_id}",
            )
        if env.dataset == "CostAndUsage":
            landed = await self._retry(
                lambda: file_landed(self.ch, env.tenant, env.file_id, pending=staged), "count landed rows"
            )
        receipt = BillingLoaded(
            tenant=env.tenant,
            file_id=env.file_id,
            file_url=env.file_url,
            format=env.format,
            rows_in=env.rows_in or 0,
            rows_rejected=env.rows_rejected or 0,
            rows_landed=landed.source_rows,
            focus_rows_landed=landed.rows,
            batches=env.seq,
            source_totals=env.source_totals or {},
            rejected_totals=env.rejected_totals or {},
            landed_totals=landed.totals,
            status=env.status,
            source_id=env.source_id,
            period=env.period,
            period_version=env.period_version,
            reconciled=env.status == "complete" and reconcile(env, landed.source_rows, landed.totals, landed.rows),
            warnings=env.warnings or [],
        )
        # Bump the data version before the receipt: whoever sees a receipt can rely on caches
        # no longer serving answers from before this load.
        await self._announce(receipt)
        await self.rt.publish(BILLING_LOADED, key=env.file_id, value=encode_record(receipt))
        await self._record(receipt)
        if receipt.reconciled and env.source_id and env.period and env.period_version:
            await self.maybe_promote(env.tenant, env.source_id, env.period, env.period_version)
        if env.object_time is not None and env.period_version is None and receipt.reconciled:
            END_TO_END_SECONDS.labels("file").observe((receipt.loaded_at - env.object_time).total_seconds())
        self.rt.count("load.files")
        FILES.labels("load", "reconciled" if receipt.reconciled else "unreconciled").inc()
        log.info(
            "loaded %s: %d in, %d landed, %d rejected, reconciled=%s",
            env.file_url,
            receipt.rows_in,
            receipt.rows_landed,
            receipt.rows_rejected,
            receipt.reconciled,
        )

    async def _record(self, receipt: BillingLoaded) -> None:
        """Move the file's ledger row to loaded, then reconciled (or failed with the mismatch).

        Best effort after the durable receipt: a ledger row already past this point (a
        redelivered end record) or an unreachable control plane is logged, not retried.
        """
        ledger = self.rt.ledger
        if ledger is None or not ledger.enabled or receipt.status != "complete":
            return
        try:
            await ledger.advance(receipt.tenant, receipt.file_id, "loaded", rows_landed=receipt.rows_landed)
            await live.publish_file(self.rt.settings, receipt.tenant, receipt.file_id)
            if receipt.reconciled:
                await ledger.advance(receipt.tenant, receipt.file_id, "reconciled", landed_totals=receipt.landed_totals)
            else:
                await ledger.advance(
                    receipt.tenant, receipt.file_id, "failed", error="landed rows or cost differ from the source"
                )
        except Exception as exc:  # see docstring
            log.info("load: ledger not advanced for %s: %s", receipt.file_url, exc)
        await live.publish_file(self.rt.settings, receipt.tenant, receipt.file_id)

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
        await self.ensure_tenant(tenant)
        tag = pending_tag(source_id, version)
        try:
            promoted = await self._retry(
                lambda: asyncio.to_thread(promote_pending, self.ch, tenant, period, source_id, tag),
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
                await self._retry(
                    lambda pv=pv: asyncio.to_thread(  # type: ignore[misc]
                        drop_pending, self.ch, tenant, period, pending_tag(source_id, pv.version)
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
        await self._announce_data(tenant, f"period:{source_id}/{period:%Y-%m}", {"period_version": version})
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

    async def _announce_data(self, tenant: str, what: str, detail: dict[str, Any]) -> None:
        url = self.rt.settings.redis.url
        if not url:
            return
        try:
            await publish_loaded(url, tenant, what, detail)
        except Exception as exc:
            log.warning("load: could not publish the data version to Redis: %s", exc)

    async def _announce(self, receipt: BillingLoaded) -> None:
        """Bump the tenant's data version and tell live subscribers (when Redis is configured).

        Runs before the receipt is published. Best effort: the rows are already in ClickHouse
        and the receipt follows; a Redis outage is logged, not retried, and never blocks loading.
        """
        url = self.rt.settings.redis.url
        if not url:
            return
        detail = {
            "rows_landed": receipt.rows_landed,
            "status": receipt.status,
            "reconciled": receipt.reconciled,
        }
        try:
            await publish_loaded(url, receipt.tenant, receipt.file_id, detail)
        except Exception as exc:
            log.warning("load: could not publish the data version to Redis: %s", exc)


def register(app: Any, rt: Runtime) -> None:
    """Add the load agent to the app."""
    loader = Loader(rt, connect(rt.settings.clickhouse_dsn))

    @app.agent(rt.topic(FOCUS_BATCHES), name="cloudops.load")  # type: ignore[untyped-decorator]
    async def load(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            headers = {k: v for k, v in (msg.headers or [])} if not isinstance(msg.headers, dict) else msg.headers
            await loader.handle(msg.key, msg.value, headers, msg.partition, msg.offset)

    if rt.ledger is not None and rt.ledger.enabled:

        @app.timer(interval=rt.settings.load.sweep_interval_s)  # type: ignore[untyped-decorator]
        async def sweep_periods() -> None:
            try:
                await loader.sweep()
            except Exception as exc:  # the next tick tries again
                log.warning("load: period sweep failed: %s", exc)
