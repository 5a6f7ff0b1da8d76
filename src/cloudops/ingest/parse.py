"""Parse one announced file: ``billing-files`` -> ``focus-batches`` (+ rejected rows to ``focus-batches.dlq``).

Top-down, for one :class:`~cloudops.schemas.events.BillingFile`:

1. admit it: the tenant is active and owns the source; the source's object-store access;
2. claim it in the file ledger (a file seen twice, by both triggers or redelivered, is parsed once);
3. a manifest or snapshot object becomes a period version (:mod:`cloudops.ingest.versions`);
4. otherwise fetch, convert and publish its batches and end record (:mod:`cloudops.ingest.convert`);
5. the ledger says ``parsed``; the loader takes it from there (:mod:`cloudops.ingest.load`).

A file that cannot be read goes to ``billing-files.dlq``; a transient failure that outlasts
the in-place attempts goes to ``billing-files.retry`` (round ``retry_round + 1``, delayed
with backoff) until ``ingest.retry_rounds`` rounds are used up; if it fails after some
batches were published, the end record says ``aborted`` so the loader removes what landed.
"""

from __future__ import annotations

import asyncio
import logging
import time

from cloudops.errors import ObjectSupersededError, classify, describe
from cloudops.ingest.convert import ClaimLost, fetch, publish_batches, publish_end
from cloudops.ingest.lifecycle import FileLifecycle
from cloudops.ingest.outcomes import give_up, retry_later, superseded, taken_over
from cloudops.ingest.versions import handle_manifest, handle_snapshot
from cloudops.metrics import FILES, ROWS
from cloudops.schemas.events import BillingFile
from cloudops.service.admission import Refused, gate_for
from cloudops.sinks.postgres.ledger import Source
from cloudops.sources.converter import FileConversion, open_conversion
from cloudops.sources.manifests import is_manifest_key
from cloudops.sources.objects import ObjectStoreAccess
from cloudops.topics.codec import decode_record, encode_record
from cloudops.topics.ledger import Claim
from cloudops.topics.retry import with_retries
from cloudops.topics.runtime import Handler, Message, Runtime, Subject, attempts_of
from cloudops.topics.specs import BILLING_FILES, RETRY_AT_HEADER, RETRY_ROUND_HEADER

__all__ = ["announcement", "handle_billing_file", "parse_file", "parse_handler", "resume_abandoned", "wait_for_round"]

log = logging.getLogger(__name__)


def parse_handler(rt: Runtime, *, retry: bool = False) -> Handler[BillingFile]:
    """The parse agent's handler; ``retry``: for ``billing-files.retry`` (waits until each record is due)."""

    async def process(event: BillingFile, message: Message) -> None:
        retry_round = await wait_for_round(message) if retry else 0
        await parse_file(rt, event, message, retry_round=retry_round)

    return Handler(
        BILLING_FILES,
        "parse",
        decode=lambda m: decode_record(BillingFile, m.value),
        process=process,
        subject=lambda e: Subject(e.tenant, e.file_id, e.url),
    )


async def handle_billing_file(rt: Runtime, message: Message, *, retry: bool = False) -> None:
    """Decode and parse one ``billing-files`` record; never raises (failures are dead-lettered)."""
    await rt.handle(parse_handler(rt, retry=retry), message)


def announcement(event: BillingFile) -> Message:
    """The ``billing-files`` record that announces ``event`` (what the takeover re-reads)."""
    return Message(BILLING_FILES.name, key=event.file_id.encode(), value=encode_record(event))


async def wait_for_round(message: Message) -> int:
    """Sleep until a retry record is due (records of a partition are in due order, so waiting here
    delays none early); returns its retry round."""
    retry_round = int(message.headers.get(RETRY_ROUND_HEADER, b"1"))
    wait = float(message.headers.get(RETRY_AT_HEADER, b"0")) - time.time()
    if wait > 0:
        await asyncio.sleep(min(wait, 900.0))
    return retry_round


async def parse_file(rt: Runtime, event: BillingFile, message: Message, *, retry_round: int = 0) -> None:
    """Parse one announced file. Never raises for bad data or dependency failures (see module doc)."""
    admitted = await _admit_and_claim(rt, event, message, retry_round)
    if admitted is None:
        return
    source, claim, access = admitted
    if source is not None and event.period_version is None:
        if source.layout == "manifest":
            await handle_manifest(rt, event, source.id, message)
            return
        if source.layout == "snapshot":
            await handle_snapshot(rt, event, source.id, message)
            return
    source_id = source.id if source is not None else event.source_id
    lifecycle = FileLifecycle(rt)
    conv: FileConversion | None = None
    published = 0
    try:
        async with lifecycle.holding(claim):
            path = await fetch(rt, event, access)
            try:
                conv = await asyncio.to_thread(
                    open_conversion,
                    path,
                    source=event.url,
                    file_id=event.file_id,
                    block_size=rt.settings.ingest.block_bytes,
                )
                published = await publish_batches(rt, event, conv, source_id, claim)
            finally:
                path.unlink(missing_ok=True)
    except asyncio.CancelledError:
        raise
    except ClaimLost:
        taken_over(rt, event, "while publishing")
        return
    except ObjectSupersededError as exc:
        await superseded(rt, event, exc, claim)
        return
    except Exception as exc:
        kind = classify(exc)
        FILES.labels("parse", kind).inc()
        if kind == "bug":
            log.exception("parse: unexpected error on %s", event.url)
        reason = describe(exc)
        if not await lifecycle.still_held(claim):
            taken_over(rt, event, f"and then failed here ({reason})")
            return
        if conv is not None and published:
            await publish_end(rt, event, conv, published, source_id, status="aborted", reason=reason)
        if kind == "transient" and await retry_later(rt, event, message, retry_round, reason, claim):
            return
        await give_up(rt, event, message, kind, reason, attempts_of(exc), claim)
        return
    # Every batch and the end record are published: the file is the loader's now.
    await lifecycle.parsed(event, claim, conv)
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


async def _admit_and_claim(
    rt: Runtime, event: BillingFile, message: Message, retry_round: int
) -> tuple[Source | None, Claim | None, ObjectStoreAccess | None] | None:
    """Steps 1 and 2; None when there is nothing (more) to do with this message."""
    ing = rt.settings.ingest
    ledger = rt.ledger
    source: Source | None = None
    claim: Claim | None = None
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
                return None
            claim = await with_retries(
                lambda: FileLifecycle(rt).claim(event),
                what=f"claim {event.url}",
                attempts=ing.max_attempts,
                base_s=ing.backoff_base_s,
                max_s=ing.backoff_max_s,
            )
            if claim is None:
                rt.count("parse.skipped")
                return None
    except asyncio.CancelledError:
        raise
    except Refused as exc:
        rt.count("parse.refused")
        await rt.dead_letter(
            BILLING_FILES,
            error_kind="bad_data",
            reason=exc.reason,
            message=message,
            subject=Subject(event.tenant, event.file_id, event.url),
        )
        return None
    except Exception as exc:
        reason = f"file ledger: {exc}"
        if classify(exc) == "transient" and await retry_later(rt, event, message, retry_round, reason):
            return None
        await rt.dead_letter(
            BILLING_FILES,
            error_kind=classify(exc),
            reason=reason,
            message=message,
            subject=Subject(event.tenant, event.file_id, event.url),
        )
        return None
    return source, claim, access


async def resume_abandoned(rt: Runtime) -> int:
    """Take over files whose worker vanished mid-file (its claim lapsed without a result); returns how many.

    A worker killed or shut down while parsing leaves its ledger row in ``parsing``; the broker
    may already count the message as processed, or the partition may sit with a consumer that is
    stuck in a rebalance. This worker parses such a file itself, through the same path as a
    delivered message: the ledger lets exactly one worker claim it (every worker's timer tries),
    and its batches deduplicate in ClickHouse. A file announced but never claimed (``seen``) is
    taken over the same way. Never raises: a failed look is logged and the next tick tries again.
    """
    if rt.ledger is None or not rt.ledger.enabled:
        return 0
    try:
        stale = await rt.ledger.stale_announcements()
    except Exception as exc:  # the next tick tries again
        log.warning("parse: could not look for abandoned files: %s", exc)
        return 0
    for event in stale:
        log.warning("parse: %s was abandoned mid-file; taking it over", event.url)
        rt.count("parse.resumed")
        await handle_billing_file(rt, announcement(event))
    return len(stale)
