"""Fetch billing objects (S3 or local) to a local spool file, streaming and bounded in memory.

S3 reads pin the exact object version announced by the event (``IfMatch`` on the ETag,
or ``VersionId``), so a file overwritten between announcement and read is never
parsed under the wrong identity: the read fails as bad data and the newer version
arrives with its own event.

A source's ``kind`` (azure-blob, gcs, ...) sends listing and fetch to its store in
:mod:`cloudops.sources.stores` (same contract: ETag or version pinned, same errors).

Clients are made per source: :class:`ObjectStoreAccess` carries the source's endpoint,
region and credentials (resolved by :mod:`cloudops.sources.credentials`); without one, the
deployment's ``CLOUDOPS_AWS__*`` settings apply. ``file://`` URLs are read only under
``CLOUDOPS_INGEST__LOCAL_ROOT`` (an event naming any other local path is bad data).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from cloudops.errors import BadDataError, ObjectSupersededError, TransientError
from cloudops.schemas.events import BillingFile, Trigger
from cloudops.settings import AwsSettings
from cloudops.sources.credentials import AwsCredentials

__all__ = [
    "ObjectInfo",
    "ObjectStoreAccess",
    "client_kwargs",
    "fetch_to_spool",
    "list_objects",
    "local_path_allowed",
    "s3_client",
    "split_s3_url",
    "stat_local",
]

_TRANSIENT_CODES = {
    "500",
    "502",
    "503",
    "504",
    "SlowDown",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
}


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """A listed object."""

    bucket: str
    key: str
    etag: str | None
    size: int
    scheme: str = "s3"  # the URL scheme of the store's kind (s3, az, gs, oci, oss, bq)
    version_id: str | None = None  # a generation/version where the store pins reads by it (GCS)

    def billing_file(self, tenant: str, trigger: Trigger, source_id: str | None = None) -> BillingFile:
        """The ``billing-files`` event announcing this listed object version."""
        return BillingFile(
            tenant=tenant,
            url=f"{self.scheme}://{self.bucket}/{self.key}",
            bucket=self.bucket,
            key=self.key,
            etag=self.etag,
            version_id=self.version_id,
            size=self.size,
            trigger=trigger,
            source_id=source_id,
        )


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` -> ``("bucket", "some/key")``."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3:// URL: {url}")
    return parsed.netloc, parsed.path.lstrip("/")


@dataclass(frozen=True, slots=True)
class ObjectStoreAccess:
    """How to reach one source's objects: its endpoint and region (None: the deployment's) and
    credentials (None: the deployment's). ``repr`` never shows a secret."""

    endpoint_url: str | None = None
    region: str | None = None
    credentials: AwsCredentials | None = None
    # Which object store (:mod:`cloudops.sources.stores`) and its own settings; for kinds whose
    # credentials are a document (GCS, BigQuery service-account JSON), the reference to read it.
    kind: str = "s3"
    options: dict[str, Any] = field(default_factory=dict)
    secret_ref: str | None = field(default=None, repr=False)


def local_path_allowed(path: Path, root: Path | None) -> bool:
    """True if ``path`` (resolved, symlinks followed) lies under ``root`` (None: nothing is allowed)."""
    if root is None:
        return False
    return path.resolve().is_relative_to(root.resolve())


def client_kwargs(aws: AwsSettings, access: ObjectStoreAccess | None = None) -> dict[str, Any]:
    """Keyword arguments of an aiobotocore client: the source's ``access`` over the deployment's settings."""
    kw = _client_kwargs(aws)
    if access is not None:
        if access.endpoint_url:
            kw["endpoint_url"] = access.endpoint_url
        if access.region:
            kw["region_name"] = access.region
        if access.credentials is not None:
            kw.pop("aws_access_key_id", None)
            kw.pop("aws_secret_access_key", None)
            kw.update(access.credentials.client_kwargs())
    return kw


def _client_kwargs(aws: AwsSettings) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "region_name": aws.region,
        # Bounded, predictable SDK retries: cloudops retries around them (with_retries, retry topics).
        "config": AioConfig(
            retries={"max_attempts": aws.sdk_max_attempts, "mode": "standard"},
            connect_timeout=aws.connect_timeout_s,
            read_timeout=aws.read_timeout_s,
        ),
    }
    if aws.endpoint_url:
        kw["endpoint_url"] = aws.endpoint_url
    if aws.access_key_id and aws.secret_access_key:
        kw["aws_access_key_id"] = aws.access_key_id.get_secret_value()
        kw["aws_secret_access_key"] = aws.secret_access_key.get_secret_value()
    return kw


@contextlib.asynccontextmanager
async def s3_client(
    aws: AwsSettings, service: str = "s3", access: ObjectStoreAccess | None = None
) -> AsyncIterator[Any]:
    """An aiobotocore client for ``service`` configured from settings (and the source's ``access``)."""
    async with get_session().create_client(service, **client_kwargs(aws, access)) as client:
        yield client


def _classify_client_error(exc: ClientError, what: str) -> Exception:
    err = exc.response.get("Error", {})
    code = str(err.get("Code", ""))
    status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    if code in _TRANSIENT_CODES or status.startswith("5"):
        return TransientError(f"{what}: object store error {code or status}")
    if code in ("PreconditionFailed", "412"):
        return ObjectSupersededError(f"{what}: object changed since it was announced (ETag mismatch)")
    if code in ("NoSuchKey", "404", "NoSuchBucket", "NoSuchVersion"):
        return BadDataError(f"{what}: object not found ({code})")
    return BadDataError(f"{what}: object store refused the read ({code or status})")


async def fetch_to_spool(
    event: BillingFile,
    aws: AwsSettings,
    spool_dir: Path,
    *,
    chunk: int,
    local_root: Path | None = None,
    access: ObjectStoreAccess | None = None,
) -> Path:
    """Copy the announced object to a new file under ``spool_dir`` and return its path.

    Reads ``chunk`` bytes at a time; disk writes run off the event loop. The caller
    deletes the file. S3 objects are read with the source's ``access`` (endpoint, region,
    credentials); ``file://`` URLs only under ``local_root``. Raises BadDataError (missing
    object, changed ETag, a local path outside ``local_root``) or TransientError (5xx,
    timeouts, connection).
    """
    if event.url.startswith("file://"):
        src = Path(urllib.parse.unquote(urllib.parse.urlparse(event.url).path))
        if not await asyncio.to_thread(local_path_allowed, src, local_root):
            raise BadDataError(
                f"local file outside CLOUDOPS_INGEST__LOCAL_ROOT ({local_root or 'unset'}): not read", source=event.url
            )
    target = await asyncio.to_thread(_new_spool_file, spool_dir)
    try:
        if event.url.startswith("file://"):
            await asyncio.to_thread(_copy_local, src, target, chunk, event.url)
        elif access is not None and access.kind != "s3":
            from cloudops.sources.stores import store_for  # kinds other than S3: their own SDKs

            await store_for(access, aws).fetch(event, target, chunk)
        else:
            await _download(event, aws, target, chunk, access)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def _new_spool_file(spool_dir: Path) -> Path:
    spool_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="billing-", suffix=".part", dir=spool_dir)
    os.close(fd)
    return Path(name)


def _copy_local(src: Path, target: Path, chunk: int, url: str) -> None:
    if not src.is_file():
        raise BadDataError("file not found", source=url)
    with src.open("rb") as fh, target.open("wb") as out:
        shutil.copyfileobj(fh, out, chunk)


async def _download(
    event: BillingFile, aws: AwsSettings, target: Path, chunk: int, access: ObjectStoreAccess | None
) -> None:
    bucket, key = split_s3_url(event.url)
    args: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if event.version_id:
        args["VersionId"] = event.version_id
    elif event.etag:
        args["IfMatch"] = f'"{event.etag}"'
    out = await asyncio.to_thread(target.open, "wb")
    try:
        async with s3_client(aws, access=access) as s3:
            resp = await s3.get_object(**args)
            async with resp["Body"] as body:
                while data := await body.read(chunk):
                    await asyncio.to_thread(out.write, data)
    except ClientError as exc:
        raise _classify_client_error(exc, event.url) from exc
    except (BotoCoreError, OSError, TimeoutError) as exc:
        raise TransientError(f"{event.url}: {type(exc).__name__}: {exc}") from exc
    finally:
        await asyncio.to_thread(out.close)


async def list_objects(
    aws: AwsSettings, bucket: str, prefix: str = "", access: ObjectStoreAccess | None = None
) -> list[ObjectInfo]:
    """Every object under ``prefix`` (paginated listing), with the source's ``access`` if given.

    The source's kind picks the store (:func:`cloudops.sources.stores.store_for`); S3 by default."""
    if access is not None and access.kind != "s3":
        from cloudops.sources.stores import store_for

        return await store_for(access, aws).list(bucket, prefix)
    out: list[ObjectInfo] = []
    try:
        async with s3_client(aws, access=access) as s3:
            paginator = s3.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    out.append(ObjectInfo(bucket, obj["Key"], obj.get("ETag", "").strip('"') or None, obj["Size"]))
    except ClientError as exc:
        raise _classify_client_error(exc, f"s3://{bucket}/{prefix}") from exc
    except (BotoCoreError, OSError) as exc:
        raise TransientError(f"s3://{bucket}/{prefix}: {exc}") from exc
    return out


def stat_local(path: Path) -> tuple[str, int]:
    """A local file's pseudo-ETag (size and mtime in ns) and size, for file identity."""
    st = path.stat()
    return f"{st.st_size:x}-{st.st_mtime_ns:x}", st.st_size
