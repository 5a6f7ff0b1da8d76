"""The ``oci-object-storage`` kind: OCI Object Storage with the ``oci`` SDK (synchronous: run off the
event loop in the stores' bounded pool).

Oracle writes each tenancy's cost and FOCUS reports (gzipped CSV, a file every few hours, never
rewritten) to a bucket *in Oracle's own tenancy*: namespace ``bling``, bucket named by the
customer's tenancy OCID, read across tenancies with the customer's credentials (the
``define tenancy usage-report`` / ``endorse ... to read objects in tenancy usage-report`` policy).
A source names:

* ``bucket``: the tenancy OCID; ``prefix``: ``reports/cost-csv/`` or ``FOCUS Reports/``;
* ``options.namespace``: the Object Storage namespace (default ``bling``);
* ``region`` (the tenancy's home region) or ``endpoint_url`` (``https://objectstorage.<region>.oraclecloud.com``);
* ``credentials_ref``, one of:

  - ``env:NAME`` / ``file:/path``: an API signing key as a JSON document
    ``{"tenancy", "user", "fingerprint", "key_content" (PEM), "region"?, "pass_phrase"?}``;
  - ``oci-instance-principal:``: the identity of the OCI instance the worker runs on (its
    dynamic group must be endorsed to read the usage reports). The SDK's
    ``InstancePrincipalsSecurityTokenSigner`` reads the instance's certificate and key from the
    instance metadata service (``OCI_METADATA_BASE_URL`` overrides its address) and trades them
    at the region's Auth Service federation endpoint (``options.federation_endpoint`` overrides
    it: a private endpoint) for a short-lived security token that signs the requests. One signer
    per process and endpoint: the SDK renews its token before it expires.

Reads pin the listed ETag (``If-Match``); OCI never rewrites a report, so a mismatch means the
object was replaced by hand: ObjectSupersededError like every kind.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import oci  # type: ignore[import-untyped]
from oci import exceptions as oci_exc  # type: ignore[import-untyped]
from requests import exceptions as req_exc

from cloudops.errors import BadDataError, ConfigError, ObjectSupersededError, TransientError
from cloudops.schemas.events import BillingFile
from cloudops.sources.credentials import OCI_INSTANCE_PRINCIPAL, read_secret_ref
from cloudops.sources.objects import ObjectInfo, ObjectStoreAccess
from cloudops.sources.stores import run_blocking

__all__ = ["OciObjectStore", "classify_oci_error"]

_ERRORS = (oci_exc.ServiceError, oci_exc.RequestException, req_exc.RequestException, OSError, TimeoutError)
_FIELDS = "name,size,etag,timeCreated"
_signers: dict[str | None, Any] = {}  # federation endpoint (None: the region's) -> instance principal signer
_signers_lock = threading.Lock()


def _instance_principal_signer(federation_endpoint: str | None) -> Any:
    """The process's instance principal signer (built once: it fetches the instance identity and a
    token; the SDK renews the token itself). Raises what the SDK raises when the metadata service or
    the federation endpoint cannot be reached or refuses."""
    with _signers_lock:
        signer = _signers.get(federation_endpoint)
        if signer is None:
            try:
                signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner(
                    federation_endpoint=federation_endpoint,
                    retry_strategy=oci.retry.NoneRetryStrategy(),  # cloudops retries around the call
                    federation_client_retry_strategy=oci.retry.NoneRetryStrategy(),
                )
            except (OSError, oci_exc.RequestException) as exc:  # the SDK's vendored requests errors are OSErrors
                raise TransientError(
                    f"OCI instance principal: the instance metadata service (only on OCI compute instances) or the "
                    f"federation endpoint cannot be reached ({type(exc).__name__})"
                ) from None
            _signers[federation_endpoint] = signer
        return signer


def classify_oci_error(exc: BaseException, what: str) -> Exception:
    """The cloudops error for an ``oci`` SDK exception (see the stores' contract)."""
    if isinstance(exc, oci_exc.ServiceError):
        status, code = int(exc.status or 0), str(exc.code or exc.status)
        if status == 412:
            return ObjectSupersededError(f"{what}: object changed since it was announced ({code})")
        if status == 401:
            return BadDataError(f"{what}: OCI refused the credentials ({code})")
        if status == 403:
            return BadDataError(f"{what}: no permission ({code})")
        if status == 404:  # OCI answers 404 both for a missing bucket and for one the caller may not read
            return BadDataError(f"{what}: {code}: {exc.message}")
        if status in (408, 409, 429) or status >= 500:
            return TransientError(f"{what}: object store error {code}")
        return BadDataError(f"{what}: object store refused the request ({code})")
    return TransientError(f"{what}: {type(exc).__name__}: {exc}")


class OciObjectStore:
    """OCI Object Storage in one namespace (``bling`` by default)."""

    scheme = "oci"

    def __init__(self, access: ObjectStoreAccess) -> None:
        self._access = access
        self._namespace = str(access.options.get("namespace") or "bling")

    def _client(self) -> Any:
        access = self._access
        kwargs: dict[str, Any] = {"retry_strategy": oci.retry.NoneRetryStrategy(), "timeout": (10, 60)}
        if access.endpoint_url:
            kwargs["service_endpoint"] = access.endpoint_url
        if access.secret_ref == OCI_INSTANCE_PRINCIPAL:
            federation = str(access.options.get("federation_endpoint") or "") or None
            signer = _instance_principal_signer(federation)
            region = access.region or signer.region
            return oci.object_storage.ObjectStorageClient({"region": region}, signer=signer, **kwargs)
        if not access.secret_ref:
            raise ConfigError(
                "an oci-object-storage source needs credentials_ref: an API signing key document "
                f"(env:NAME or file:/path) or {OCI_INSTANCE_PRINCIPAL}"
            )
        try:
            doc = json.loads(read_secret_ref(access.secret_ref))
            config = {
                "tenancy": doc["tenancy"],
                "user": doc["user"],
                "fingerprint": doc["fingerprint"],
                "key_content": doc["key_content"],
                "region": access.region or doc.get("region") or "us-ashburn-1",
            }
            if doc.get("pass_phrase"):
                config["pass_phrase"] = doc["pass_phrase"]
            oci.config.validate_config(config)
            signer = oci.signer.Signer(
                config["tenancy"],
                config["user"],
                config["fingerprint"],
                None,
                pass_phrase=config.get("pass_phrase"),
                private_key_content=config["key_content"],
            )
        except (ValueError, KeyError, TypeError, oci_exc.InvalidConfig, oci_exc.InvalidPrivateKey) as exc:
            raise ConfigError(
                f"{access.secret_ref} is not an OCI API signing key document ({type(exc).__name__})"
            ) from None
        return oci.object_storage.ObjectStorageClient(config, signer=signer, **kwargs)

    def _list(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        client = self._client()
        out: list[ObjectInfo] = []
        start: str | None = None
        while True:
            page = client.list_objects(self._namespace, bucket, prefix=prefix or None, start=start, fields=_FIELDS)
            for obj in page.data.objects:
                out.append(ObjectInfo(bucket, obj.name, obj.etag or None, int(obj.size or 0), scheme=self.scheme))
            start = page.data.next_start_with
            if not start:
                return out

    async def list(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        try:
            return await run_blocking(self._list, bucket, prefix)
        except _ERRORS as exc:
            raise classify_oci_error(exc, f"oci://{bucket}/{prefix}") from exc

    def _fetch(self, event: BillingFile, target: Path, chunk: int) -> None:
        client = self._client()
        kwargs: dict[str, Any] = {"if_match": event.etag} if event.etag else {}
        resp = client.get_object(self._namespace, event.bucket or "", event.key, **kwargs)
        with target.open("wb") as out:
            for data in resp.data.raw.stream(chunk, decode_content=False):
                out.write(data)

    async def fetch(self, event: BillingFile, target: Path, chunk: int) -> None:
        try:
            await run_blocking(self._fetch, event, target, chunk)
        except _ERRORS as exc:
            raise classify_oci_error(exc, event.url) from exc
