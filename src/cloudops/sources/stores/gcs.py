"""The ``gcs`` kind: Google Cloud Storage with ``google-cloud-storage`` (synchronous SDK, run off
the event loop in the stores' bounded pool).

For customers who export billing data (or copies of BigQuery billing exports) to Cloud Storage. A
source names:

* ``bucket`` and ``prefix``;
* ``credentials_ref``: ``env:NAME`` or ``file:/path`` naming a service-account key (its JSON
  document; a mounted Secret), read with :func:`~cloudops.sources.credentials.read_secret_ref`.
  Without one: Application Default Credentials (workload identity), or anonymous access when
  ``endpoint_url`` points at an emulator;
* ``endpoint_url``: only for an emulator or a private endpoint;
* ``options.project``: the billing project of requests (optional).

An object version is its *generation*: listings announce it as ``version_id``, and reads pin it,
so an object overwritten since its announcement raises ObjectSupersededError.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import storage  # type: ignore[import-untyped,attr-defined]
from google.oauth2 import service_account
from requests import exceptions as req_exc

from cloudops.errors import BadDataError, ConfigError, ObjectSupersededError, TransientError
from cloudops.schemas.events import BillingFile
from cloudops.sources.credentials import read_secret_ref
from cloudops.sources.objects import ObjectInfo, ObjectStoreAccess
from cloudops.sources.stores import run_blocking

__all__ = ["GcsStore", "classify_gcs_error"]

_READ_ONLY = ["https://www.googleapis.com/auth/devstorage.read_only"]


class _Superseded(Exception):
    """The announced generation is no longer the object's (found after a 404 or in the response)."""


_ERRORS = (_Superseded, gexc.GoogleAPIError, auth_exc.GoogleAuthError, req_exc.RequestException, OSError, TimeoutError)


def classify_gcs_error(exc: BaseException, what: str) -> Exception:
    """The cloudops error for a GCS client exception (see the stores' contract)."""
    if isinstance(exc, (gexc.PreconditionFailed, _Superseded)):
        return ObjectSupersededError(f"{what}: object changed since it was announced (generation mismatch)")
    if isinstance(exc, gexc.NotFound):
        return BadDataError(f"{what}: not found ({exc.message})")
    if isinstance(exc, (gexc.Unauthorized, auth_exc.RefreshError, auth_exc.DefaultCredentialsError)):
        return BadDataError(f"{what}: credentials refused ({type(exc).__name__})")
    if isinstance(exc, gexc.Forbidden):
        return BadDataError(f"{what}: no permission ({exc.message})")
    if isinstance(exc, (gexc.ServerError, gexc.TooManyRequests, gexc.RetryError)):
        return TransientError(f"{what}: object store error {type(exc).__name__}")
    if isinstance(exc, gexc.ClientError):
        return BadDataError(f"{what}: object store refused the request ({exc.code} {exc.message})")
    return TransientError(f"{what}: {type(exc).__name__}: {exc}")


class GcsStore:
    """Google Cloud Storage (one client per call, made in the worker thread)."""

    scheme = "gs"

    def __init__(self, access: ObjectStoreAccess) -> None:
        self._access = access

    def _client(self) -> storage.Client:
        access = self._access
        project = str(access.options.get("project") or "") or None
        creds: Credentials | None = None
        if access.secret_ref:
            doc = read_secret_ref(access.secret_ref)
            try:
                info = json.loads(doc)
                creds = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                    info, scopes=_READ_ONLY
                )
            except (ValueError, KeyError) as exc:
                raise ConfigError(f"{access.secret_ref} is not a service-account key ({type(exc).__name__})") from None
            project = project or info.get("project_id")
        elif access.endpoint_url:
            creds = AnonymousCredentials()  # type: ignore[no-untyped-call]
            project = project or "cloudops"
        options: dict[str, Any] | None = {"api_endpoint": access.endpoint_url} if access.endpoint_url else None
        return storage.Client(project=project, credentials=creds, client_options=options)

    def _list(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        client = self._client()
        return [
            ObjectInfo(
                bucket,
                blob.name,
                (blob.etag or "").strip('"') or None,
                int(blob.size or 0),
                scheme=self.scheme,
                version_id=str(blob.generation) if blob.generation else None,
            )
            for blob in client.list_blobs(bucket, prefix=prefix or None)
        ]

    async def list(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        try:
            return await run_blocking(self._list, bucket, prefix)
        except _ERRORS as exc:
            raise classify_gcs_error(exc, f"gs://{bucket}/{prefix}") from exc

    def _fetch(self, event: BillingFile, target: Path) -> None:
        client = self._client()
        bucket = client.bucket(event.bucket or "")
        generation = int(event.version_id) if event.version_id and event.version_id.isdigit() else None
        blob = bucket.blob(event.key, generation=generation)
        try:
            with target.open("wb") as out:
                blob.download_to_file(out, if_generation_match=generation)
            # Belt and braces: the generation the response headers name (x-goog-generation).
            if generation is not None and blob.generation not in (None, generation):
                raise _Superseded(f"read generation {blob.generation}, announced {generation}")
        except gexc.NotFound:
            if generation is not None and bucket.get_blob(event.key) is not None:
                raise _Superseded("a newer generation replaced the announced one") from None
            raise

    async def fetch(self, event: BillingFile, target: Path, chunk: int) -> None:
        try:
            await run_blocking(self._fetch, event, target)
        except _ERRORS as exc:
            raise classify_gcs_error(exc, event.url) from exc
