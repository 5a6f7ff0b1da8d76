"""The ``azure-blob`` kind: Azure Blob Storage with ``azure-storage-blob`` (aio).

Where Azure Cost Management writes its exports (actual cost, amortised cost, FOCUS; daily
month-to-date overwrites, monthly runs, partitioned exports with a ``manifest.json``). A source
names:

* ``endpoint_url``: the storage account's blob endpoint, ``https://<account>.blob.core.windows.net``
  (Azurite: ``http://127.0.0.1:10000/devstoreaccount1``);
* ``bucket``: the container, ``prefix``: the export's root folder;
* ``credentials_ref``: resolved like any reference (:mod:`cloudops.sources.credentials`) to a key
  pair read as *storage account name* (``..._ACCESS_KEY_ID``) and *account key*
  (``..._SECRET_ACCESS_KEY``). Without one the container is read anonymously (a SAS token in
  ``endpoint_url``'s query string, or a public container).

Reads pin the listed version: ``If-Match`` on the blob's ETag (every ranged read of a large
blob carries it), or the blob ``versionId`` where versioning is on. An export overwritten
between announcement and read (the daily month-to-date run) raises ObjectSupersededError and
its newer copy arrives with its own event or listing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueClient

from cloudops.errors import BadDataError, ConfigError, ObjectSupersededError, TransientError
from cloudops.schemas.events import BillingFile
from cloudops.sources.credentials import AwsCredentials
from cloudops.sources.objects import ObjectInfo, ObjectStoreAccess

__all__ = ["AzureBlobStore", "azure_credential", "classify_azure_error", "queue_client"]

_CLIENT_OPTIONS: dict[str, Any] = {"retry_total": 2, "connection_timeout": 10, "read_timeout": 60}
# Error codes that mean the key or SAS itself is wrong (not a missing permission of a valid one).
_CREDENTIAL_CODES = frozenset({"AuthenticationFailed", "InvalidAuthenticationInfo", "NoAuthenticationInformation"})


def azure_credential(access: ObjectStoreAccess) -> dict[str, str] | None:
    """The shared-key credential of the source (None: anonymous or a SAS in the URL)."""
    if access.credentials is None:
        return None
    return {"account_name": access.credentials.access_key_id, "account_key": access.credentials.secret_access_key}


def _code(exc: AzureError, default: str) -> str:
    code = getattr(exc, "error_code", None) or default
    return str(getattr(code, "value", code))  # azure-storage gives a StorageErrorCode (str enum) or a string


def classify_azure_error(exc: AzureError | OSError | TimeoutError, what: str) -> Exception:
    """The cloudops error for an Azure SDK exception (see the stores' contract)."""
    if isinstance(exc, ResourceModifiedError):
        return ObjectSupersededError(f"{what}: blob changed since it was announced (ETag mismatch)")
    if isinstance(exc, ResourceNotFoundError):
        return BadDataError(f"{what}: {_code(exc, 'not found')}")
    if isinstance(exc, ClientAuthenticationError) or (
        isinstance(exc, HttpResponseError) and _code(exc, "") in _CREDENTIAL_CODES
    ):
        return BadDataError(
            f"{what}: the storage account refused the credentials ({_code(exc, 'authentication failed')})"
        )
    if isinstance(exc, HttpResponseError):
        status = exc.status_code or 0
        code = _code(exc, str(status))
        if status == 412 or code == "ConditionNotMet":
            return ObjectSupersededError(f"{what}: blob changed since it was announced (ETag mismatch)")
        if status >= 500 or status in (408, 429):
            return TransientError(f"{what}: blob store error {code}")
        if code == "AuthorizationFailure":  # Azure: network rules or SAS scope; Azurite: also a wrong key
            return BadDataError(f"{what}: not authorized ({code}): a wrong key or SAS, or the account's network rules")
        if status == 403:
            return BadDataError(f"{what}: no permission ({code})")
        return BadDataError(f"{what}: blob store refused the request ({code})")
    # ServiceRequestError / ServiceResponseError (connection, timeout), OSError, any other AzureError
    return TransientError(f"{what}: {type(exc).__name__}: {exc}")


class AzureBlobStore:
    """Azure Blob Storage, one storage account (the source's ``endpoint_url``)."""

    scheme = "az"

    def __init__(self, access: ObjectStoreAccess) -> None:
        if not access.endpoint_url:
            raise ConfigError(
                "an azure-blob source needs endpoint_url: its storage account's blob endpoint "
                "(https://<account>.blob.core.windows.net)"
            )
        self._url = access.endpoint_url
        self._credential = azure_credential(access)

    @asynccontextmanager
    async def _service(self) -> AsyncIterator[BlobServiceClient]:
        async with BlobServiceClient(self._url, credential=self._credential, **_CLIENT_OPTIONS) as svc:
            yield svc

    async def list(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        out: list[ObjectInfo] = []
        try:
            async with self._service() as svc:
                container = svc.get_container_client(bucket)
                async for blob in container.list_blobs(name_starts_with=prefix or None):
                    out.append(
                        ObjectInfo(
                            bucket,
                            blob.name,
                            (blob.etag or "").strip('"') or None,
                            int(blob.size or 0),
                            scheme=self.scheme,
                            version_id=getattr(blob, "version_id", None) or None,
                        )
                    )
        except (AzureError, OSError, TimeoutError) as exc:
            raise classify_azure_error(exc, f"az://{bucket}/{prefix}") from exc
        return out

    async def fetch(self, event: BillingFile, target: Path, chunk: int) -> None:
        container, key = event.bucket or "", event.key
        kwargs: dict[str, Any] = {"max_concurrency": 1}
        if event.version_id:
            kwargs["version_id"] = event.version_id
        elif event.etag:
            kwargs["etag"] = f'"{event.etag.strip(chr(34))}"'
            kwargs["match_condition"] = MatchConditions.IfNotModified
        out = await asyncio.to_thread(target.open, "wb")
        try:
            async with self._service() as svc:
                blob = svc.get_blob_client(container, key)
                stream = await blob.download_blob(**kwargs)
                async for data in stream.chunks():
                    for i in range(0, len(data), chunk):
                        await asyncio.to_thread(out.write, data[i : i + chunk])
        except (AzureError, OSError, TimeoutError) as exc:
            raise classify_azure_error(exc, event.url) from exc
        finally:
            await asyncio.to_thread(out.close)


def queue_client(queue_url: str, credentials: AwsCredentials | None) -> QueueClient:
    """An aio client of one Azure Storage Queue (``https://<account>.queue.core.windows.net/<queue>``);
    ``credentials`` are the account name and key (None: a SAS token in the URL). Use as ``async with``."""
    credential = (
        {"account_name": credentials.access_key_id, "account_key": credentials.secret_access_key}
        if credentials is not None
        else None
    )
    return QueueClient.from_queue_url(queue_url, credential=credential, **_CLIENT_OPTIONS)
