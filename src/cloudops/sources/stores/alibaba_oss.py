"""The ``alibaba-oss`` kind: Alibaba Cloud OSS with ``alibabacloud-oss-v2`` (synchronous: run off the
event loop in the stores' bounded pool).

Where the billing "storage" subscription (Expenses and Costs > bill subscription) delivers bill
files: daily and monthly, CSV or a zip of CSV parts. A source names:

* ``bucket`` and ``prefix``; ``region`` (e.g. ``cn-hangzhou``, ``ap-southeast-1``);
* ``endpoint_url``: only to override the region's endpoint (a private link, a test server);
* ``credentials_ref``: resolved like any reference (:mod:`cloudops.sources.credentials`) to an
  AccessKey id / secret (and an STS token); ``options.path_style=true`` for endpoints that need
  path-style addressing.

Requests are signed with OSS signature V4 by the SDK. Reads pin the listed ETag (``If-Match``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import alibabacloud_oss_v2 as oss  # type: ignore[import-untyped]
from alibabacloud_oss_v2 import exceptions as oss_exc

from cloudops.errors import BadDataError, ConfigError, ObjectSupersededError, TransientError
from cloudops.schemas.events import BillingFile
from cloudops.sources.objects import ObjectInfo, ObjectStoreAccess
from cloudops.sources.stores import run_blocking

__all__ = ["AlibabaOssStore", "classify_oss_error"]

_ERRORS = (oss_exc.BaseError, OSError, TimeoutError)
# 403 codes that mean the AccessKey itself is wrong (not a missing permission of a valid one).
_CREDENTIAL_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidSecurityToken", "SecurityTokenExpired"}
)


def _service_error(exc: BaseException) -> Any:
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, oss_exc.ServiceError):
            return exc
        inner = exc.unwrap() if isinstance(exc, oss_exc.OperationError) else None
        exc = inner if inner is not None else exc.__cause__  # type: ignore[assignment]
        seen += 1
    return None


def classify_oss_error(exc: BaseException, what: str) -> Exception:
    """The cloudops error for an OSS SDK exception (see the stores' contract)."""
    svc = _service_error(exc)
    if svc is None:
        if isinstance(exc, (oss_exc.CredentialsBaseError, oss_exc.ParamInvalidError)):
            return BadDataError(f"{what}: {type(exc).__name__}")
        return TransientError(f"{what}: {type(exc).__name__}: {exc}")
    status, code = int(svc.status_code or 0), str(svc.code or svc.status_code)
    if status == 412:
        return ObjectSupersededError(f"{what}: object changed since it was announced ({code})")
    if status == 401 or code in _CREDENTIAL_CODES:
        return BadDataError(f"{what}: OSS refused the credentials ({code})")
    if status == 403:
        return BadDataError(f"{what}: no permission ({code})")
    if status == 404:
        return BadDataError(f"{what}: {code}")
    if status in (408, 429) or status >= 500:
        return TransientError(f"{what}: object store error {code}")
    return BadDataError(f"{what}: object store refused the request ({code})")


class AlibabaOssStore:
    """Alibaba Cloud OSS (one client per call, made in the worker thread)."""

    scheme = "oss"

    def __init__(self, access: ObjectStoreAccess) -> None:
        if not access.region:
            raise ConfigError("an alibaba-oss source needs --region (e.g. cn-hangzhou)")
        self._access = access

    def _client(self) -> Any:
        access = self._access
        cfg = oss.config.load_default()
        cfg.region = access.region
        if access.endpoint_url:
            cfg.endpoint = access.endpoint_url
            cfg.disable_ssl = access.endpoint_url.startswith("http://")
        if str(access.options.get("path_style") or "").lower() in ("1", "true", "yes"):
            cfg.use_path_style = True
        cfg.retry_max_attempts = 1  # cloudops retries around the call
        if access.credentials is not None:
            c = access.credentials
            cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
                c.access_key_id, c.secret_access_key, c.session_token or None
            )
        else:
            cfg.credentials_provider = oss.credentials.EnvironmentVariableCredentialsProvider()
        return oss.Client(cfg)

    def _list(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        paginator = self._client().list_objects_v2_paginator()
        out: list[ObjectInfo] = []
        for page in paginator.iter_page(oss.ListObjectsV2Request(bucket=bucket, prefix=prefix or None)):
            for obj in page.contents or []:
                out.append(
                    ObjectInfo(bucket, obj.key, (obj.etag or "").strip('"') or None, int(obj.size or 0), self.scheme)
                )
        return out

    async def list(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        try:
            return await run_blocking(self._list, bucket, prefix)
        except _ERRORS as exc:
            raise classify_oss_error(exc, f"oss://{bucket}/{prefix}") from exc

    def _fetch(self, event: BillingFile, target: Path, chunk: int) -> None:
        request = oss.GetObjectRequest(
            bucket=event.bucket or "",
            key=event.key,
            if_match=f'"{event.etag}"' if event.etag else None,
            version_id=event.version_id or None,
        )
        result = self._client().get_object(request)
        with target.open("wb") as out, result.body as body:
            for data in body.iter_bytes(block_size=chunk):
                out.write(data)

    async def fetch(self, event: BillingFile, target: Path, chunk: int) -> None:
        try:
            await run_blocking(self._fetch, event, target, chunk)
        except _ERRORS as exc:
            raise classify_oss_error(exc, event.url) from exc
