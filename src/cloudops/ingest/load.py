"""Load: ``focus-batches`` -> ClickHouse ``tenant_<t>.focus``, then ``billing-loaded`` receipts.

Inserts are idempotent (the batch id is the insert deduplication token), so a redelivered
batch never doubles a row. When a file's end record arrives, every batch before it on the
partition has been inserted; the loader then counts the file's rows and cost in ClickHouse
and publishes the receipt, reconciled against the parser's totals (:func:`reconcile`). A
reconciled file of a period version may complete it: the version is swapped in
(:class:`~cloudops.ingest.periods.Promoter`).
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from typing import Any

from cloudops.errors import BadDataError
from cloudops.ingest.lifecycle import FileLifecycle
from cloudops.ingest.periods import Promoter
from cloudops.ingest.warehouse import Warehouse
from cloudops.metrics import END_TO_END_SECONDS, FILES, ROWS
from cloudops.schemas.events import BillingLoaded, FocusBatchEnvelope
from cloudops.sinks.clickhouse import ClickHouse, connect, file_landed, insert_focus_batch
from cloudops.sinks.clickhouse.datasets import dataset_file_landed, delete_dataset_file, insert_dataset_batch
from cloudops.sinks.clickhouse.periods import pending_tag
from cloudops.sinks.clickhouse.removal import delete_focus_file
from cloudops.topics.codec import decode_batch, decode_envelope, encode_record
from cloudops.topics.runtime import Handler, Message, Runtime, Subject
from cloudops.topics.specs import BILLING_LOADED, FOCUS_BATCHES

__all__ = ["Loader", "reconcile"]

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

    @classmethod
    def connect(cls, rt: Runtime) -> Loader:
        """A loader writing to the deployment's ClickHouse."""
        return cls(rt, connect(rt.settings.clickhouse_dsn))

    def __init__(self, rt: Runtime, ch: ClickHouse) -> None:
        self.rt = rt
        self.warehouse = Warehouse(rt, ch)
        self.promoter = Promoter(rt, self.warehouse)
        self.lifecycle = FileLifecycle(rt)
        # file id -> when the loader last touched its ledger row: only throttles heartbeats, so
        # losing it on a restart costs one early heartbeat, nothing else.
        self._beats: dict[str, float] = {}

    def handler(self) -> Handler[FocusBatchEnvelope]:
        """The load agent's handler: the envelope travels in the record's headers."""
        return Handler(
            FOCUS_BATCHES,
            "load",
            decode=lambda m: decode_envelope(dict(m.headers)),
            process=self.process,
            subject=lambda env: Subject(env.tenant, env.file_id, env.file_url),
        )

    async def process(self, env: FocusBatchEnvelope, message: Message) -> None:
        """Insert one batch, or finish a file on its end record. Raises on failure (the handler dead-letters)."""
        wh = self.warehouse
        await wh.ensure_tenant(env.tenant)
        if env.kind != "rows":
            await self._finish_file(env)
            return
        batch = decode_batch(message.value or b"")
        if batch.num_rows != env.row_count:
            raise BadDataError(f"batch has {batch.num_rows} rows, envelope says {env.row_count}")
        if env.dataset != "CostAndUsage":  # a supporting FOCUS dataset: its own table, never staged
            await wh.retry(
                lambda: insert_dataset_batch(
                    wh.ch, env.tenant, env.dataset, batch, token=env.batch_id, x_source=env.source_id
                ),
                f"insert {env.batch_id}",
            )
        else:
            staged = env.period_version is not None
            x_source = env.source_id
            if staged:
                if not env.source_id or env.period is None:
                    raise BadDataError("a staged batch needs source_id and period")
                x_source = pending_tag(env.source_id, env.period_version or "")
            await wh.retry(
                lambda: insert_focus_batch(
                    wh.ch, env.tenant, batch, token=env.batch_id, pending=staged, x_source=x_source
                ),
                f"insert {env.batch_id}",
            )
            if env.seq == 0:
                log.info("load: loading %s (file %s)", env.file_url, env.file_id)
        await self._heartbeat(env)
        self.rt.count("load.rows", batch.num_rows)
        ROWS.labels("landed").inc(batch.num_rows)

    async def _heartbeat(self, env: FocusBatchEnvelope) -> None:
        """Touch the file's ledger row while its batches load (every ``reparse_after_s`` / 10 at most).

        A file ``parsed`` longer than ``reparse_after_s`` without a receipt counts as lost and is
        parsed again; a large file still loading behind a backlog must not be. Best effort.
        """
        if not self.lifecycle.enabled:
            return
        now = time.monotonic()
        every = self.rt.settings.ingest.reparse_after_s / 10
        if now - self._beats.get(env.file_id, -every) < every:
            return
        self._beats[env.file_id] = now
        if len(self._beats) > 10_000:  # forget files long finished
            self._beats = {f: t for f, t in self._beats.items() if now - t < every}
        try:
            await self.lifecycle.loading(env.tenant, env.file_id)
        except Exception as exc:
            log.info("load: ledger heartbeat for %s failed: %s", env.file_url, exc)

    async def _finish_file(self, env: FocusBatchEnvelope) -> None:
        """Remove an aborted file's rows, count what landed, publish the receipt, move the ledger on."""
        self._beats.pop(env.file_id, None)
        wh = self.warehouse
        staged = env.period_version is not None
        landed: Any
        if env.dataset != "CostAndUsage":  # supporting datasets load straight into their own table
            if env.status == "aborted":
                await wh.retry(
                    lambda: delete_dataset_file(wh.ch, env.tenant, env.dataset, env.file_id),
                    f"remove aborted file {env.file_id}",
                )
            landed = await wh.retry(
                lambda: dataset_file_landed(wh.ch, env.tenant, env.dataset, env.file_id), "count landed rows"
            )
        else:
            if env.status == "aborted":
                await wh.retry(
                    lambda: delete_focus_file(wh.ch, env.tenant, env.file_id, pending=staged),
                    f"remove aborted file {env.file_id}",
                )
            landed = await wh.retry(
                lambda: file_landed(wh.ch, env.tenant, env.file_id, pending=staged), "count landed rows"
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
        detail = {"rows_landed": receipt.rows_landed, "status": receipt.status, "reconciled": receipt.reconciled}
        await wh.announce(receipt.tenant, receipt.file_id, detail)
        await self.rt.publish(BILLING_LOADED, key=env.file_id, value=encode_record(receipt))
        await self.lifecycle.loaded(receipt)
        if receipt.reconciled and env.source_id and env.period and env.period_version:
            await self.promoter.maybe_promote(env.tenant, env.source_id, env.period, env.period_version)
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
