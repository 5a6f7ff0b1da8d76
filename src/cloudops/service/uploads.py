"""Upload one billing file into one of the tenant's sources (the web UI's Upload, ``POST
/v1/sources/{id}/uploads``).

The file is written to the source's own object store under the source's prefix, with the
source's endpoint, region and credentials, exactly where the provider's export would have put
it, so the normal pipeline ingests it: the bucket's ObjectCreated notification (bridge) or the
source's schedule announces it, and, so that a source without either still gets it at once, the
upload announces it on ``billing-files`` itself. Both announcements carry the same object
version, hence the same file id: the ledger claims the file once (see
:func:`cloudops.schemas.events.file_id_for`). Where no workers run, the object waits in the
bucket and the announcement on the topic until a parse worker starts.

Only ``s3`` sources (S3 and S3-compatible endpoints) of the ``files`` layout take uploads: a
manifest or snapshot layout is a period version the provider delivers as a whole, and the other
kinds are written with their vendors' tools. Same object name again = a new object version,
ingested as a new file (a restatement of the same key).

Tenant-bound and audited (``file.uploaded``, with the object's URL, ETag, size and SHA-256).
Async (object store and broker); the control-plane steps run on worker threads.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from botocore.exceptions import BotoCoreError, ClientError

from cloudops.errors import TransientError
from cloudops.schemas.events import BillingFile
from cloudops.service.admission import IngestGate
from cloudops.service.context import Caller, Conflict, InvalidInput, NotFound, audit, control_plane, require_tenant
from cloudops.service.tenants import ingest_verdict
from cloudops.sinks.postgres import sources as store
from cloudops.sinks.postgres.sources import SourceRecord
from cloudops.sources.objects import s3_client
from cloudops.topics.admin import ensure_topics
from cloudops.topics.clients import client_kwargs
from cloudops.topics.codec import encode_record
from cloudops.topics.specs import BILLING_FILES

__all__ = ["Upload", "check_name", "upload_file"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_ANNOUNCE_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class Upload:
    """What an upload stored and whether it was announced (``detail``: what happens next, one line)."""

    source_id: str
    event: BillingFile
    sha256: str
    announced: bool
    detail: str

    @property
    def file_id(self) -> str:
        return self.event.file_id


def check_name(name: str) -> str:
    """``name`` if it is a plain file name (no folders), else InvalidInput."""
    if not _NAME.fullmatch(name) or name.endswith((".", "..")):
        raise InvalidInput(f"invalid file name {name[:80]!r}: letters, digits, '.', '_', '-' (at most 200), no folders")
    return name


def _source_for_upload(caller: Caller, source_id: str) -> SourceRecord:
    with control_plane(caller) as conn:
        require_tenant(conn, caller, writable=True)
        source = store.get_source(conn, caller.tenant_id, source_id)
    if source is None:
        raise NotFound(f"no source {source_id!r} for tenant {caller.tenant_id!r}")
    verdict = ingest_verdict(caller.dsn, caller.tenant_id)
    if verdict != "active":
        raise Conflict(f"tenant {caller.tenant_id!r} is {verdict}: its files are not ingested now")
    if source.kind != "s3":
        raise InvalidInput(
            f"source {source_id!r} is {source.kind}: uploads go to s3 sources only; put the file in "
            f"{source.bucket}/{source.prefix} with the provider's tools"
        )
    if source.layout != "files":
        raise InvalidInput(
            f"source {source_id!r} uses the {source.layout} layout: a period version is delivered whole "
            "by the provider, not one file at a time"
        )
    if not source.enabled:
        raise Conflict(f"source {source_id!r} is disabled: enable it first")
    return source


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _audit_upload(caller: Caller, upload: Upload) -> None:
    ev = upload.event
    with control_plane(caller) as conn:
        audit(
            conn,
            caller,
            "file.uploaded",
            target=f"source:{upload.source_id}",
            after={
                "file_id": ev.file_id,
                "url": ev.url,
                "etag": ev.etag,
                "version_id": ev.version_id,
                "size": ev.size,
                "sha256": upload.sha256,
            },
        )


async def _put(caller: Caller, source: SourceRecord, key: str, path: Path, size: int) -> BillingFile:
    settings = caller.settings
    access = await IngestGate(settings).access(caller.tenant_id, source)
    url = f"s3://{source.bucket}/{key}"
    try:
        async with s3_client(settings.aws, access=access) as s3:
            with path.open("rb") as body:
                answer: dict[str, Any] = await s3.put_object(Bucket=source.bucket, Key=key, Body=body)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if status >= 500 or code in ("SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"):
            raise TransientError(f"{url}: the object store is unavailable ({code or status})") from exc
        raise Conflict(f"{url}: the object store refused the upload ({code or status})") from exc
    except (BotoCoreError, OSError, TimeoutError) as exc:
        raise TransientError(f"{url}: {type(exc).__name__}: {exc}") from exc
    return BillingFile(
        tenant=caller.tenant_id,
        url=url,
        bucket=source.bucket,
        key=key,
        etag=str(answer.get("ETag", "")).strip('"') or None,
        version_id=answer.get("VersionId") or None,
        size=size,
        trigger="manual",
        source_id=source.id,
    )


async def _announce(caller: Caller, event: BillingFile) -> None:
    kafka = caller.settings.kafka
    await ensure_topics(kafka)
    producer = AIOKafkaProducer(**client_kwargs(kafka), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(BILLING_FILES.name, key=event.file_id.encode(), value=encode_record(event))
    finally:
        await producer.stop()


async def upload_file(caller: Caller, source_id: str, name: str, path: Path, *, announce: bool = True) -> Upload:
    """Store the file at ``path`` as ``<source prefix><name>`` in the caller's source ``source_id``,
    audit it, then (``announce``) announce it on ``billing-files``.

    The upload succeeds once the object is stored and audited; an announcement that fails (no
    broker within 20 s) is reported in :attr:`Upload.detail`, not raised: the bucket's
    notifications or the source's schedule still announce the object.

    Raises InvalidInput (bad name, a source that takes no uploads), NotFound (no such source or
    tenant), Conflict (tenant not active, source disabled, the store refused the write),
    TransientError (object store unavailable), ConfigError (no control plane).
    """
    check_name(name)
    source = await asyncio.to_thread(_source_for_upload, caller, source_id)
    size = (await asyncio.to_thread(path.stat)).st_size
    if size == 0:
        raise InvalidInput("the file is empty")
    sha256 = await asyncio.to_thread(_sha256, path)
    event = await _put(caller, source, source.prefix + name, path, size)
    pickup = "the bucket's notifications" + (
        f" or the schedule (every {source.schedule_s} s)" if source.schedule_s else ""
    )
    stored = Upload(source.id, event, sha256, announced=False, detail=f"stored; {pickup} will announce it")
    await asyncio.to_thread(_audit_upload, caller, stored)
    if not announce:
        return stored
    try:
        await asyncio.wait_for(_announce(caller, event), _ANNOUNCE_TIMEOUT_S)
    except Exception as exc:  # the object is stored: its notification or schedule still announces it
        reason = f"{type(exc).__name__}: {exc}"[:200] if str(exc) else type(exc).__name__
        return Upload(source.id, event, sha256, announced=False, detail=f"{stored.detail} (not announced: {reason})")
    return Upload(
        source.id,
        event,
        sha256,
        announced=True,
        detail="stored and announced on billing-files: a parse worker takes it",
    )
