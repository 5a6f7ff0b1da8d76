"""The data path of one file: fetch it to the spool, convert it chunk by chunk, publish Arrow batches.

Each chunk becomes one or more ``focus-batches`` records (split to fit the broker's message
size) keyed by the file id, with an envelope naming its rows and cost; rejected rows go to
``focus-batches.dlq`` one by one. One ``end`` record closes the file with its totals: the
loader reconciles against them (``complete``), or removes what landed (``aborted``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

import pyarrow as pa

from cloudops.focus.datasets import batch_cost_totals
from cloudops.metrics import BACKPRESSURE_SECONDS
from cloudops.schemas.events import BillingFile, FocusBatchEnvelope
from cloudops.sources.converter import FileConversion
from cloudops.sources.objects import ObjectStoreAccess, fetch_to_spool
from cloudops.topics.codec import ENVELOPE_HEADER, encode_record, split_to_fit
from cloudops.topics.ledger import Claim
from cloudops.topics.retry import with_retries
from cloudops.topics.runtime import Message, Runtime, Subject
from cloudops.topics.specs import BILLING_FILES, FOCUS_BATCHES

__all__ = ["ClaimLost", "fetch", "publish_batches", "publish_end"]

_ARROW = b"application/vnd.apache.arrow.stream"


class ClaimLost(Exception):
    """This worker's claim on the file was taken over (it stalled past the lease)."""


async def fetch(rt: Runtime, event: BillingFile, access: ObjectStoreAccess | None = None) -> Path:
    """Download the announced object to the spool, retrying transient failures in place.

    Raises RetriesExhausted (carrying the attempts made) when they persist.
    """
    ing = rt.settings.ingest
    spool = rt.settings.app.work_dir / "spool"
    return await with_retries(
        lambda: fetch_to_spool(
            event, rt.settings.aws, spool, chunk=ing.download_chunk_bytes, local_root=ing.local_root, access=access
        ),
        what=f"fetch {event.url}",
        attempts=ing.max_attempts,
        base_s=ing.backoff_base_s,
        max_s=ing.backoff_max_s,
    )


async def publish_batches(
    rt: Runtime, event: BillingFile, conv: FileConversion, source_id: str | None, claim: Claim | None = None
) -> int:
    """Publish every chunk of ``conv`` and then the ``complete`` end record; returns the batches published.

    Waits while the loaders lag (the load gate); raises ClaimLost as soon as the claim's
    heartbeat finds the file taken over.
    """
    chunks = conv.chunks()
    seq = 0
    max_bytes = rt.settings.kafka.max_message_bytes
    about = Subject(event.tenant, event.file_id, event.url)
    while True:
        item = await asyncio.to_thread(next, chunks, None)
        if item is None:
            break
        result, malformed = item
        for row in [*(result.rejected if result else []), *malformed]:
            await rt.dead_letter(
                FOCUS_BATCHES,
                error_kind="bad_data",
                reason=row.reason,
                message=Message(BILLING_FILES.name, key=event.file_id.encode()),
                source_topic=BILLING_FILES.name,
                subject=about,
                rejected_row=row,
            )
            rt.count("parse.rows_rejected")
        if result is None or result.batch.num_rows == 0:
            continue
        chunk_id = result.batch.column("x_BatchId")[0].as_py()
        row_numbers = result.batch.column("x_RowNumber")
        row_start, row_end = row_numbers[0].as_py(), row_numbers[-1].as_py() + 1
        pieces = await asyncio.to_thread(_split, result.batch, max_bytes)
        for i, (piece, data) in enumerate(pieces):
            if rt.load_gate is not None and (waited := await rt.load_gate.wait(event.url)):
                rt.count("parse.throttled")
                BACKPRESSURE_SECONDS.labels("parse").inc(waited)
            if claim is not None and claim.lost:  # the heartbeat found the file taken over
                raise ClaimLost(event.file_id)
            env = FocusBatchEnvelope(
                kind="rows",
                tenant=event.tenant,
                file_id=event.file_id,
                file_url=event.url,
                format=conv.rules.id,
                dataset=conv.rules.dataset,
                seq=seq,
                batch_id=f"{chunk_id}:{i}",
                row_start=row_start,
                row_end=row_end,
                row_count=piece.num_rows,
                cost_totals=batch_cost_totals(piece, conv.rules.dataset),
                source_id=source_id,
                period=event.period,
                period_version=event.period_version,
            )
            await rt.publish(
                FOCUS_BATCHES,
                key=event.file_id,
                value=data,
                headers={ENVELOPE_HEADER: encode_record(env), "content-type": _ARROW},
            )
            seq += 1
            rt.count("parse.batches")
    await publish_end(rt, event, conv, seq, source_id, status="complete", reason=None)
    return seq


def _split(batch: pa.RecordBatch, max_bytes: int) -> list[tuple[pa.RecordBatch, bytes]]:
    return list(split_to_fit(batch, max_bytes))


async def publish_end(
    rt: Runtime,
    event: BillingFile,
    conv: FileConversion,
    batches: int,
    source_id: str | None,
    *,
    status: Literal["complete", "aborted"],
    reason: str | None,
) -> None:
    """The file's end record: its totals (``complete``), or ``aborted`` so the loader removes what landed."""
    env = FocusBatchEnvelope(
        kind="end",
        tenant=event.tenant,
        file_id=event.file_id,
        file_url=event.url,
        format=conv.rules.id,
        dataset=conv.rules.dataset,
        seq=batches,
        batch_id=f"{event.file_id}:end",
        row_start=0,
        row_end=conv.rows_in,
        row_count=0,
        cost_totals={},
        rows_in=conv.rows_in,
        rows_rejected=conv.rows_rejected,
        focus_rows=conv.focus_rows,
        source_totals=conv.source_totals,
        rejected_totals=conv.rejected_totals,
        warnings=conv.warnings or None,
        status=status,
        reason=reason,
        source_id=source_id,
        object_time=event.event_time,
        period=event.period,
        period_version=event.period_version,
    )
    await rt.publish(FOCUS_BATCHES, key=event.file_id, value=b"", headers={ENVELOPE_HEADER: encode_record(env)})
