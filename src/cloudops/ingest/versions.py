"""Period versions: a manifest (or a snapshot object) makes one version of a billing period.

A version is registered in the control plane with the files it lists; each of its files is
announced again on ``billing-files`` carrying the version, loads into ``focus_pending``, and
the whole version is swapped in over the period's previous one once every file reconciled
(:mod:`cloudops.ingest.periods`). Both handlers are idempotent: a redelivered manifest
registers nothing new, and its files keep their identity (file id = object + period version).
A version older than the newest known one of its period announces nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging

from cloudops.errors import BadDataError, ObjectSupersededError, classify, describe
from cloudops.ingest.convert import fetch
from cloudops.ingest.lifecycle import FileLifecycle
from cloudops.ingest.outcomes import give_up, superseded
from cloudops.schemas.events import BillingFile
from cloudops.service.admission import gate_for
from cloudops.sources.manifests import is_manifest_key, other_dataset, parse_manifest, snapshot_period
from cloudops.topics.codec import encode_record
from cloudops.topics.runtime import Message, Runtime, attempts_of
from cloudops.topics.specs import BILLING_FILES

__all__ = ["handle_manifest", "handle_snapshot", "snapshot_version"]

log = logging.getLogger(__name__)


async def handle_manifest(rt: Runtime, event: BillingFile, source_id: str, message: Message) -> None:
    """Register the period version a manifest describes and announce each of its files."""
    ledger = rt.ledger
    assert ledger is not None
    try:
        gate = gate_for(rt.settings)
        record = await gate.source(event.tenant, source_id)
        path = await fetch(rt, event, await gate.access(event.tenant, record))
        try:
            data = await asyncio.to_thread(path.read_bytes)
        finally:
            path.unlink(missing_ok=True)
        manifest = parse_manifest(data, bucket=event.bucket or "", key=event.key)
        if (skip := other_dataset(manifest, record.options if record is not None else {})) is not None:
            await FileLifecycle(rt).skipped(event, skip)  # not counted twice
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
        await FileLifecycle(rt).listed(event)
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
        await superseded(rt, event, exc)
    except Exception as exc:
        kind = classify(exc)
        if kind == "bug":
            log.exception("parse: unexpected error on manifest %s", event.url)
        await give_up(rt, event, message, kind, describe(exc), attempts_of(exc))


def snapshot_version(event: BillingFile) -> str:
    """The period version one snapshot object makes: its content version and which object it is
    (a re-run writes a new object, an overwrite a new ETag of the same one)."""
    content = (event.version_id or event.etag or "").strip('"')[:16] or "unversioned"
    return f"{content}-{hashlib.sha1(event.key.encode()).hexdigest()[:8]}"


async def handle_snapshot(rt: Runtime, event: BillingFile, source_id: str, message: Message) -> None:
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
        await FileLifecycle(rt).listed(event)
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
        await give_up(rt, event, message, kind, describe(exc), attempts_of(exc))
