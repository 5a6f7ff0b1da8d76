"""``parse``: ``billing-files`` -> ``focus-batches`` (+ rejected rows to ``focus-batches.dlq``).

For each announced file: fetch it to a spool file (bounded memory), detect its format
from the header, convert chunk by chunk, publish each chunk as an Arrow batch keyed by
the file id, then one end record with the file's totals. A file that cannot be read
goes to ``billing-files.dlq``; if it fails after some batches were published, the end
record says ``aborted`` so the loader removes what landed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from cloudops.errors import BadDataError, ErrorKind, ObjectSupersededError, classify, describe
from cloudops.focus.datasets import batch_cost_totals
from cloudops.metrics import BACKPRESSURE_SECONDS, FILES, RETRIES, ROWS
from cloudops.schemas.events import BillingFile, FocusBatchEnvelope
from cloudops.service import live
from cloudops.service.admission import Refused, gate_for
from cloudops.sources.converter import FileConversion, open_conversion
from cloudops.sources.manifests import is_manifest_key, other_dataset, parse_manifest, snapshot_period
from cloudops.sources.objects import ObjectStoreAccess, fetch_to_spool
from cloudops.topics.codec import ENVELOPE_HEADER, decode_record, encode_record, split_to_fit
from cloudops.topics.lag import LagGate
from cloudops.topics.ledger import Claim
from cloudops.topics.retry import RetriesExhausted, with_retries
from cloudops.topics.runtime import Runtime
from cloudops.topics.specs import BILLING_FILES, FOCUS_BATCHES

__all__ = ["handle_billing_file", "register"]

log = logging.getLogger(__name__)
_ARROW = b"application/vnd.apache.arrow.stream"


RETRY_ROUND_HEADER = "cloudops-retry-round"
RETRY_AT_HEADER = "cloudops-retry-at"


async def handle_billing_file(
    rt: Runtime,
    key: bytes | None,
    value: bytes | None,
    partition: int | None,
    offset: int | None,
    *,
    retry_round: int = 0,
) -> None:
    """Process one ``billing-files`` message. Never raises for bad data or dependency failures.

    A transient failure that outlasts the in-place attempts sends the message to
    ``billing-files.retry`` (round ``retry_round + 1``, delayed with backoff) until
    ``ingest.retry_rounds`` rounds are used up; then it is dead-lettered.
    """
    try:
        event = decode_record(BillingFile, value)
    except BadDataError as exc:
        await rt.dead_letter(
            BILLING_FILES,
            error_kind="bad_data",
            reason=exc.reason,
            key=key,
            value=value,
            partition=partition,
            offset=offset,
        )
        return
    ing = rt.settings.ingest
    conv: FileConversion | None = None
    published = 0
    ledger = rt.ledger
    source = None
    claim: Claim | None = None
    access: ObjectStoreAccess | None = None
    try:
        # Tenant active, source its own (never another tenant's bucket), the source's object-store access.
        access = await gate_for(rt.settings).admit(event)
        if ledger is not None and ledger.enabled:
            source = await with_retries(
                lambda: ledger.source(event),
                what=f"source of {event.url}",
                attempts=ing.max_attempts,
                base_s=ing.backoff_base_s,
                max_s=ing.backoff_max_s,
            )
            manifest_source = source is not None and source.layout == "manifest"
            if manifest_source and event.period_version is None and not is_manifest_key(event.key):
                # A data file of a manifest source counts only as part of a period version:
                # its manifest (delivered after the data) announces it.
                rt.count("parse.unlisted")
                log.info("parse: %s waits for its manifest (source %s)", event.url, event.source_id or "?")
                return
            claim = await with_retries(
                lambda: ledger.claim(event),
                what=f"claim {event.url}",
                attempts=ing.max_attempts,
                base_s=ing.backoff_base_s,
                max_s=ing.backoff_max_s,
            )
            if claim is None:
                rt.count("parse.skipped")
                return
            log.info("parse: claimed %s (file %s)", event.url, event.file_id)
            await live.publish_file(rt.settings, event.tenant, event.file_id)
    except asyncio.CancelledError:
        raise
    except Refused as exc:
        rt.count("parse.refused")
        await rt.dead_letter(
            BILLING_FILES,
            error_kind="bad_data",
            reason=exc.reason,
            key=key,
            value=value,
            partition=partition,
            offset=offset,
            tenant=event.tenant,
            file_id=event.file_id,
            file_url=event.url,
        )
        return
    except Exception as exc:
        if classify(exc) == "transient" and await _to_retry(rt, event, key, value, retry_round, f"file ledger: {exc}"):
            return
        await rt.dead_letter(
            BILLING_FILES,
            error_kind=classify(exc),
            reason=f"file ledger: {exc}",
            key=key,
            value=value,
            partition=partition,
            offset=offset,
            tenant=event.tenant,
            file_id=event.file_id,
            file_url=event.url,
        )
        return
    source_id = source.id if source is not None else event.source_id
    if source is not None and source.layout == "manifest" and event.period_version is None:
        await _handle_manifest(rt, event, source.id, key, value, partition, offset)
        return
    if source is not None and source.layout == "snapshot" and event.period_version is None:
        await _handle_snapshot(rt, event, source.id, key, value, partition, offset)
        return
    held = ledger.holding(claim) if ledger is not None and claim is not None else contextlib.nullcontext(claim)
    try:
        async with held:
            path = await _fetch(rt, event, access)
            try:
                conv = await asyncio.to_thread(
                    open_conversion, path, source=event.url, file_id=event.file_id, block_size=ing.block_bytes
                )
                published = await _publish_file(rt, event, conv, source_id, claim)
            finally:
                path.unlink(missing_ok=True)
    except asyncio.CancelledError:
        raise
    except _ClaimLost:
        _taken_over(rt, event, "while publishing")
        return
    except ObjectSupersededError as exc:
        await _superseded(rt, event, exc, claim)
        return
    except Exception as exc:
        kind = classify(exc)
        FILES.labels("parse", kind).inc()
        if kind == "bug":
            log.exception("parse: unexpected error on %s", event.url)
        reason = describe(exc)
        if not await _still_held(rt, claim):
            # Another worker has the file now: its end record and ledger moves count, not ours.
            _taken_over(rt, event, f"and then failed here ({reason})")
            return
        if conv is not None and published:
            await _publish_end(rt, event, conv, published, source_id, status="aborted", reason=reason)
        if kind == "transient" and await _to_retry(rt, event, key, value, retry_round, reason, claim):
            return
        await _give_up(rt, event, kind, reason, key, value, partition, offset, _attempts(exc), claim)
        return
    # Every batch and the end record are published: the file is the loader's now. The ledger
    # move below is bookkeeping (the loader moves the file on to loaded either way), so its
    # failure is logged, never turned into an abort that would remove rows that landed.
    if ledger is not None:
        try:
            await ledger.advance(
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
        await live.publish_file(rt.settings, event.tenant, event.file_id)
    rt.count("parse.files")
    FILES.labels("parse", "ok").inc()
    ROWS.labels("read").inc(conv.rows_in)
    ROWS.labels("converted").inc(conv.rows_converted)
    ROWS.labels("rejected").inc(conv.rows_rejected)
    log.info(
        "parsed %s (%s): %d rows in, %d rejected, %d batches",
        event.url,
        conv.rules.id,
        conv.rows_in,
        conv.rows_rejected,
        published,
    )


class _ClaimLost(Exception):
    """This worker's claim on the file was taken over (it stalled past the lease)."""


def _taken_over(rt: Runtime, event: BillingFile, when: str) -> None:
    rt.count("parse.claim_lost")
    FILES.labels("parse", "taken_over").inc()
    log.warning("parse: another worker took %s over %s; stopping here and leaving it to that worker", event.url, when)


async def _still_held(rt: Runtime, claim: Claim | None) -> bool:
    """Whether this worker still owns the file (True without a ledger, or when the ledger cannot tell)."""
    if claim is None or rt.ledger is None:
        return True
    try:
        return await rt.ledger.still_held(claim)
    except Exception as exc:
        log.warning("parse: could not check the claim on %s: %s", claim.file_id, exc)
        return not claim.lost


async def _handle_manifest(
    rt: Runtime,
    event: BillingFile,
    source_id: str,
    key: bytes | None,
    value: bytes | None,
    partition: int | None,
    offset: int | None,
) -> None:
    """Register the period version a manifest describes and announce each of its files.

    Idempotent: a redelivered manifest registers nothing new, and its files keep their
    identity (file id = object + period version), so the ledger parses each once. A
    manifest older than the newest known version of its period announces nothing.
    """
    ledger = rt.ledger
    assert ledger is not None
    try:
        gate = gate_for(rt.settings)
        record = await gate.source(event.tenant, source_id)
        path = await _fetch(rt, event, await gate.access(event.tenant, record))
        try:
            data = await asyncio.to_thread(path.read_bytes)
        finally:
            path.unlink(missing_ok=True)
        manifest = parse_manifest(data, bucket=event.bucket or "", key=event.key)
        if (skip := other_dataset(manifest, record.options if record is not None else {})) is not None:
            await ledger.advance(event.tenant, event.file_id, "rejected", error=skip)  # not counted twice
            await live.publish_file(rt.settings, event.tenant, event.file_id)
            log.info("manifest %s: %s", event.url, skip)
            return
        version = await ledger.register_version(
            event.tenant,
            source_id=source_id,
            period=manifest.period,
            version=manifest.version,
            manifest_key=event.key,
            delivered_at=event.event_time,
            files=[k for _, k in manifest.files],
        )
        announced = 0
        if version.state in ("pending", "promoting"):
            for bucket, file_key in manifest.files:
                data_file = BillingFile(
                    tenant=event.tenant,
                    provider_hint=event.provider_hint,
                    url=f"{event.url.split('://', 1)[0]}://{bucket}/{file_key}",  # the manifest's store (s3, az, gs)
                    bucket=bucket,
                    key=file_key,
                    event_time=event.event_time,
                    trigger=event.trigger,
                    source_id=source_id,
                    period=manifest.period,
                    period_version=manifest.version,
                )
                await rt.publish(BILLING_FILES, key=data_file.file_id, value=encode_record(data_file))
                announced += 1
        await ledger.advance(event.tenant, event.file_id, "reconciled")
        await live.publish_file(rt.settings, event.tenant, event.file_id)
        rt.count("parse.manifests")
        log.info(
            "manifest %s: %s version %s of %s (%s), %d files announced",
            event.url,
            manifest.kind,
            manifest.version,
            f"{manifest.period:%Y-%m}",
            version.state,
            announced,
        )
    except asyncio.CancelledError:
        raise
    except ObjectSupersededError as exc:
        await _superseded(rt, event, exc)
    except Exception as exc:
        kind = classify(exc)
        if kind == "bug":
            log.exception("parse: unexpected error on manifest %s", event.url)
        await _give_up(rt, event, kind, describe(exc), key, value, partition, offset, _attempts(exc))


def snapshot_version(event: BillingFile) -> str:
    """The period version one snapshot object makes: its content version and which object it is
    (a re-run writes a new object, an overwrite a new ETag of the same one)."""
    content = (event.version_id or event.etag or "").strip('"')[:16] or "unversioned"
    return f"{content}-{hashlib.sha1(event.key.encode()).hexdigest()[:8]}"


async def _handle_snapshot(
    rt: Runtime,
    event: BillingFile,
    source_id: str,
    key: bytes | None,
    value: bytes | None,
    partition: int | None,
    offset: int | None,
) -> None:
    """An object of a ``snapshot`` source is a whole billing period so far: make it a period version.

    Azure month-to-date exports without a manifest overwrite (or re-run into a new object)
    every day; appending each copy would count the month many times over. The object
    becomes one period version listing just itself (the period from its path), and is
    announced again as that version's data file: it lands in ``focus_pending`` and is
    swapped in whole over the period's previous version once reconciled, exactly like a
    manifest-defined version. A copy older than the newest known one announces nothing.
    """
    ledger = rt.ledger
    assert ledger is not None
    try:
        if is_manifest_key(event.key):
            raise BadDataError(
                "a manifest in a snapshot source: register the source with layout 'manifest' to use manifests",
                source=event.url,
            )
        period = snapshot_period(event.key)
        version = snapshot_version(event)
        registered = await ledger.register_version(
            event.tenant,
            source_id=source_id,
            period=period,
            version=version,
            manifest_key=event.key,
            delivered_at=event.event_time,
            files=[event.key],
        )
        if registered.state in ("pending", "promoting"):
            data_file = event.model_copy(update={"source_id": source_id, "period": period, "period_version": version})
            await rt.publish(BILLING_FILES, key=data_file.file_id, value=encode_record(data_file))
        await ledger.advance(event.tenant, event.file_id, "reconciled")
        await live.publish_file(rt.settings, event.tenant, event.file_id)
        rt.count("parse.snapshots")
        log.info(
            "snapshot %s: version %s of %s (%s)%s",
            event.url,
            version,
            f"{period:%Y-%m}",
            registered.state,
            "" if registered.state in ("pending", "promoting") else "; a newer copy is known, nothing announced",
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        kind = classify(exc)
        if kind == "bug":
            log.exception("parse: unexpected error on snapshot %s", event.url)
        await _give_up(rt, event, kind, describe(exc), key, value, partition, offset, _attempts(exc))


async def _fetch(rt: Runtime, event: BillingFile, access: ObjectStoreAccess | None = None) -> Path:
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


def _attempts(exc: BaseException) -> int:
    return exc.attempts if isinstance(exc, RetriesExhausted) else 1


async def _give_up(
    rt: Runtime,
    event: BillingFile,
    kind: ErrorKind,
    reason: str,
    key: bytes | None,
    value: bytes | None,
    partition: int | None,
    offset: int | None,
    attempts: int,
    claim: Claim | None = None,
) -> None:
    """Mark the file rejected (bad data) or failed in the ledger, then dead-letter its message."""
    if rt.ledger is not None:
        state: Literal["rejected", "failed"] = "rejected" if kind == "bad_data" else "failed"
        try:
            await rt.ledger.advance(event.tenant, event.file_id, state, claim, error=reason)
        except Exception as ledger_exc:  # the DLQ record below still carries the file
            log.warning("parse: could not mark %s %s in the ledger: %s", event.url, state, ledger_exc)
        await live.publish_file(rt.settings, event.tenant, event.file_id)
    await rt.dead_letter(
        BILLING_FILES,
        error_kind=kind,
        reason=reason,
        key=key,
        value=value,
        partition=partition,
        offset=offset,
        attempts=attempts,
        tenant=event.tenant,
        file_id=event.file_id,
        file_url=event.url,
    )


async def _to_retry(
    rt: Runtime,
    event: BillingFile,
    key: bytes | None,
    value: bytes | None,
    retry_round: int,
    reason: str,
    claim: Claim | None = None,
) -> bool:
    """Park the message on the retry topic for a later round; False when the rounds are used up."""
    ing = rt.settings.ingest
    if retry_round >= ing.retry_rounds or value is None:
        return False
    delay = min(900.0, ing.retry_delay_s * 2**retry_round)
    if rt.ledger is not None:
        try:  # claimable again by the next round
            await rt.ledger.advance(event.tenant, event.file_id, "failed", claim, error=reason)
        except Exception as exc:
            log.info("parse: ledger not updated for %s: %s", event.url, exc)
        await live.publish_file(rt.settings, event.tenant, event.file_id)
    retry_topic = BILLING_FILES.retry_topic
    assert retry_topic is not None
    await rt.publish(
        retry_topic,
        key=(key or event.file_id.encode()).decode(errors="replace"),
        value=value,
        headers={
            RETRY_ROUND_HEADER: str(retry_round + 1).encode(),
            RETRY_AT_HEADER: f"{time.time() + delay:.3f}".encode(),
        },
    )
    rt.count("parse.retried")
    RETRIES.labels("parse-round").inc()
    log.warning("parse: %s failed (%s); retry round %d in %.0fs", event.url, reason, retry_round + 1, delay)
    return True


async def _superseded(rt: Runtime, event: BillingFile, exc: ObjectSupersededError, claim: Claim | None = None) -> None:
    """The announced version was overwritten before it was read: record it, no dead letter."""
    rt.count("parse.superseded")
    FILES.labels("parse", "superseded").inc()
    log.info("parse: %s was overwritten before it was read; its newer version is ingested on its own", event.url)
    if rt.ledger is not None:
        try:
            await rt.ledger.advance(event.tenant, event.file_id, "rejected", claim, error=f"superseded: {exc.reason}")
        except Exception as ledger_exc:
            log.warning("parse: could not mark %s superseded in the ledger: %s", event.url, ledger_exc)
        await live.publish_file(rt.settings, event.tenant, event.file_id)


async def _publish_file(
    rt: Runtime, event: BillingFile, conv: FileConversion, source_id: str | None, claim: Claim | None = None
) -> int:
    chunks = conv.chunks()
    seq = 0
    max_bytes = rt.settings.kafka.max_message_bytes
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
                key=event.file_id.encode(),
                source_topic=BILLING_FILES.name,
                tenant=event.tenant,
                file_id=event.file_id,
                file_url=event.url,
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
                raise _ClaimLost(event.file_id)
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
    await _publish_end(rt, event, conv, seq, source_id, status="complete", reason=None)
    return seq


def _split(batch: pa.RecordBatch, max_bytes: int) -> list[tuple[pa.RecordBatch, bytes]]:
    return list(split_to_fit(batch, max_bytes))


async def _publish_end(
    rt: Runtime,
    event: BillingFile,
    conv: FileConversion,
    batches: int,
    source_id: str | None,
    *,
    status: Any,
    reason: str | None,
) -> None:
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


def register(app: Any, rt: Runtime) -> None:
    """Add the parse agent (and its retry-topic twin) to the app."""
    limit = rt.settings.ingest.max_load_lag_batches
    if limit > 0:
        # Bounded in-flight batches: hold publishing while the loaders (same consumer group) lag.
        group = rt.settings.ingest.load_group or rt.settings.app.id
        rt.load_gate = LagGate(rt.settings.kafka.bootstrap_servers, group, [FOCUS_BATCHES.name], limit)

    @app.agent(rt.topic(BILLING_FILES), name="cloudops.parse")  # type: ignore[untyped-decorator]
    async def parse(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            await handle_billing_file(rt, msg.key, msg.value, msg.partition, msg.offset)

    retry_topic = BILLING_FILES.retry_topic
    assert retry_topic is not None

    if rt.ledger is not None and rt.ledger.enabled:
        ledger = rt.ledger

        @app.timer(interval=rt.settings.ingest.claim_lease_s)  # type: ignore[untyped-decorator]
        async def resume_abandoned() -> None:
            """Take over files whose worker vanished mid-file (its claim lapsed without a result).

            A worker killed or shut down while parsing leaves its ledger row in ``parsing``; the
            broker may already count the message as processed, or the partition may sit with a
            consumer that is stuck in a rebalance. This worker parses such a file itself, through
            the same path as a delivered message: the ledger lets exactly one worker claim it
            (every worker's timer tries), and its batches deduplicate in ClickHouse. A file
            announced but never claimed (``seen``) is taken over the same way.
            """
            try:
                stale = await ledger.stale_announcements()
            except Exception as exc:  # the next tick tries again
                log.warning("parse: could not look for abandoned files: %s", exc)
                return
            for event in stale:
                log.warning("parse: %s was abandoned mid-file; taking it over", event.url)
                rt.count("parse.resumed")
                await handle_billing_file(rt, event.file_id.encode(), encode_record(event), None, None)

    @app.agent(rt.topic(retry_topic), name="cloudops.parse-retry")  # type: ignore[untyped-decorator]
    async def parse_retry(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            headers = dict(msg.headers or [])
            retry_round = int(headers.get(RETRY_ROUND_HEADER, b"1"))
            wait = float(headers.get(RETRY_AT_HEADER, b"0")) - time.time()
            if wait > 0:  # messages of a partition are in due order: waiting here delays none early
                await asyncio.sleep(min(wait, 900.0))
            await handle_billing_file(rt, msg.key, msg.value, msg.partition, msg.offset, retry_round=retry_round)
