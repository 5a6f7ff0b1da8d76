"""Object stores by source kind: one listing / fetch contract, one implementation per vendor SDK.

Every kind plugs into the contract the S3 path defined (:mod:`cloudops.sources.objects`):

* ``list(bucket, prefix)`` returns every object under the prefix as
  :class:`~cloudops.sources.objects.ObjectInfo` with its identity (ETag, and a version or
  generation where the store has one) and the URL scheme of the kind, so the file ledger,
  claims, period layouts (files / manifest / snapshot), restatements, retries, DLQ and
  reconciliation work unchanged.
* ``fetch(event, target, chunk)`` streams the announced object version to ``target``, pinned
  to the announced ETag (``If-Match``) or version: an object overwritten since its
  announcement raises :class:`~cloudops.errors.ObjectSupersededError`; a missing object or
  container, bad credentials or no permission raise :class:`~cloudops.errors.BadDataError`;
  5xx, throttling, timeouts and connection errors raise :class:`~cloudops.errors.TransientError`.

``bucket`` is the kind's container: an S3/GCS/OCI/OSS bucket, an Azure Blob container (the
storage account is the source's ``endpoint_url``). Kinds and their URL schemes:

========================  ======  ======================================================
kind                      scheme  module
========================  ======  ======================================================
``s3``                    s3      :mod:`cloudops.sources.objects` (aiobotocore)
``azure-blob``            az      :mod:`.azure_blob` (azure-storage-blob aio)
``gcs``                   gs      :mod:`.gcs` (google-cloud-storage, off the loop)
``oci-object-storage``    oci     :mod:`.oci` (oci, off the loop)
``alibaba-oss``           oss     :mod:`.alibaba_oss` (alibabacloud-oss-v2, off the loop)
``bigquery``              bq      :mod:`.bigquery` (google-cloud-bigquery + Arrow, off the loop;
                                  one object per invoice month)
========================  ======  ======================================================

Synchronous SDKs run in a bounded thread pool (:func:`run_blocking`), never on the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

from cloudops.errors import ConfigError
from cloudops.schemas.events import BillingFile
from cloudops.settings import AwsSettings
from cloudops.sources.credentials import OCI_INSTANCE_PRINCIPAL
from cloudops.sources.objects import ObjectInfo, ObjectStoreAccess

__all__ = [
    "CREDENTIAL_REFS",
    "DOCUMENT_CREDENTIAL_KINDS",
    "IMPLEMENTED_KINDS",
    "KINDS",
    "SCHEMES",
    "ObjectStore",
    "run_blocking",
    "store_for",
]

KINDS = ("s3", "azure-blob", "gcs", "bigquery", "oci-object-storage", "alibaba-oss")
IMPLEMENTED_KINDS = KINDS
SCHEMES = {
    "s3": "s3",
    "azure-blob": "az",
    "gcs": "gs",
    "bigquery": "bq",
    "oci-object-storage": "oci",
    "alibaba-oss": "oss",
}
# Kinds whose credentials are a document (a GCP service-account key, an OCI API signing key) named
# by ``credentials_ref`` and read by the store, rather than a key pair resolved by cloudops.sources.credentials.
DOCUMENT_CREDENTIAL_KINDS = frozenset({"gcs", "bigquery", "oci-object-storage"})
# The credentials_ref forms (scheme prefixes) each kind can use; see cloudops.sources.credentials.
CREDENTIAL_REFS: dict[str, tuple[str, ...]] = {
    "s3": ("env:", "file:", "aws-role:"),
    "azure-blob": ("env:", "file:"),
    "gcs": ("env:", "file:"),
    "bigquery": ("env:", "file:"),
    "oci-object-storage": ("env:", "file:", OCI_INSTANCE_PRINCIPAL),
    "alibaba-oss": ("env:", "file:"),
}

_T = TypeVar("_T")
_BLOCKING_SLOTS = 4
_pool: concurrent.futures.ThreadPoolExecutor | None = None


async def run_blocking(fn: Callable[..., _T], *args: object) -> _T:
    """Run a synchronous SDK call in the stores' own thread pool (at most 4 at once per process),
    so a slow vendor SDK neither blocks the event loop nor takes every default-pool thread."""
    global _pool
    if _pool is None:
        _pool = concurrent.futures.ThreadPoolExecutor(_BLOCKING_SLOTS, thread_name_prefix="cloudops-store")
    return await asyncio.get_running_loop().run_in_executor(_pool, functools.partial(fn, *args))


class ObjectStore(Protocol):
    """One source's object store (see the module docstring for the contract)."""

    scheme: str

    async def list(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        """Every object under ``prefix`` in ``bucket``, with its identity."""
        ...

    async def fetch(self, event: BillingFile, target: Path, chunk: int) -> None:
        """Stream the announced object version to ``target``, ``chunk`` bytes at a time."""
        ...


def store_for(access: ObjectStoreAccess, aws: AwsSettings) -> ObjectStore:
    """The store of ``access.kind`` configured with the source's endpoint, region, credentials and
    options. Raises ConfigError for an unknown kind, or one without an implementation yet."""
    if access.kind == "s3":
        from cloudops.sources.stores.s3 import S3Store

        return S3Store(aws, access)
    if access.kind == "azure-blob":
        from cloudops.sources.stores.azure_blob import AzureBlobStore

        return AzureBlobStore(access)
    if access.kind == "gcs":
        from cloudops.sources.stores.gcs import GcsStore

        return GcsStore(access)
    if access.kind == "oci-object-storage":
        from cloudops.sources.stores.oci import OciObjectStore

        return OciObjectStore(access)
    if access.kind == "alibaba-oss":
        from cloudops.sources.stores.alibaba_oss import AlibabaOssStore

        return AlibabaOssStore(access)
    if access.kind == "bigquery":
        from cloudops.sources.stores.bigquery import BigQueryStore

        return BigQueryStore(access)
    raise ConfigError(f"unknown source kind {access.kind!r}: choose from {', '.join(KINDS)}")
