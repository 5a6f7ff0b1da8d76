"""``load``: ``focus-batches`` -> ClickHouse ``tenant_<t>.focus``, then ``billing-loaded`` receipts.

Inserts are idempotent (the batch id is the insert deduplication token), so a
redelivered batch never doubles a row. When a file's end record arrives, every batch
before it on the partition has been inserted; the loader then counts the file's rows
and cost in ClickHouse and publishes the receipt, reconciled against the parser's totals.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

from cloudops.errors import BadDataError, classify
from cloudops.metrics import FILES, ROWS
from cloudops.schemas.events import BillingLoaded, FocusBatchEnvelope
from cloudops.sinks.clickhouse import (
    ClickHouse,
    connect,
    database_for,
    file_landed,
    insert_focus_batch,
    migrate,
)
from cloudops.sinks.redis import publish_loaded
from cloudops.topics.codec import decode_batch, decode_envelope, encode_record
from cloudops.topics.retry import RetriesExhausted, with_retries
from cloudops.topics.runtime import Runtime
from cloudops.topics.specs import BILLING_LOADED, FOCUS_BATCHES

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

    async def _retry(self, fn: Any, what: str) -> Any:
        ing = self.rt.settings.ingest
        return await with_retries(
            fn,
            what=what,
            attempts=self.rt.settings.load.max_attempts,
            base_s=ing.backoff_base_s,
            max_s=ing.backoff_max_s,
        )

    async def ensure_tenant(self, tenant: str) -> None:
        if tenant not in self._ready:
            window = self.rt.settings.clickhouse.dedup_window
            await self._retry(
                lambda: asyncio.to_thread(migrate, self.ch, tenant, dedup_window=window),
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
                await self._retry(
                    lambda: insert_focus_batch(self.ch, env.tenant, batch, token=env.batch_id),  # type: ignore[union-attr]
                    f"insert {env.batch_id}",
                )
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
            reason = exc.reason if isinstance(exc, BadDataError) else f"{type(exc).__name__}: {exc}"
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
            )

    async def _finish_file(self, env: FocusBatchEnvelope) -> None:
        if env.status == "aborted":
            db = database_for(env.tenant)
            await self._retry(
                lambda: self.ch.run(
                    lambda c: c.command(
                        f"DELETE FROM {db}.focus WHERE x_FileId = {{fid:String}}",
                        parameters={"fid": env.file_id},
                    )
                ),
                f"remove aborted file {env.file_id}",
            )
        landed = await self._retry(lambda: file_landed(self.ch, env.tenant, env.file_id), "count landed rows")
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
            reconciled=env.status == "complete" and reconcile(env, landed.source_rows, landed.totals, landed.rows),
        )
        # Bump the data version before the receipt: whoever sees a receipt can rely on caches
        # no longer serving answers from before this load.
        await self._announce(receipt)
        await self.rt.publish(BILLING_LOADED, key=env.file_id, value=encode_record(receipt))
        await self._record(receipt)
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
            if receipt.reconciled:
                await ledger.advance(receipt.tenant, receipt.file_id, "reconciled", landed_totals=receipt.landed_totals)
            else:
                await ledger.advance(
                    receipt.tenant, receipt.file_id, "failed", error="landed rows or cost differ from the source"
                )
        except Exception as exc:  # see docstring
            log.info("load: ledger not advanced for %s: %s", receipt.file_url, exc)

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
