"""The ``s3`` kind through the store interface (the implementation lives in :mod:`cloudops.sources.objects`)."""

from __future__ import annotations

from pathlib import Path

from cloudops.schemas.events import BillingFile
from cloudops.settings import AwsSettings
from cloudops.sources import objects
from cloudops.sources.objects import ObjectInfo, ObjectStoreAccess

__all__ = ["S3Store"]


class S3Store:
    """S3 (and S3-compatible endpoints) with aiobotocore: ``IfMatch`` on the ETag or ``VersionId``."""

    scheme = "s3"

    def __init__(self, aws: AwsSettings, access: ObjectStoreAccess) -> None:
        self._aws = aws
        self._access = access

    async def list(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        return await objects.list_objects(self._aws, bucket, prefix, access=self._access)

    async def fetch(self, event: BillingFile, target: Path, chunk: int) -> None:
        await objects._download(event, self._aws, target, chunk, self._access)
