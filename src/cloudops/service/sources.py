"""Billing-source use cases of one tenant: add, list, show, update, remove.

A source is the routing key of the tenant's billing exports: its bucket and key prefix
(the bridge sends an object to the source whose prefix is the longest match; two tenants'
sources may share a bucket under different prefixes, never overlap), the object store's
``endpoint_url`` and ``region`` (unset: the deployment's), and ``credentials_ref``, a
reference resolved by :mod:`cloudops.sources.credentials` (``env:NAME``, ``file:/path``,
``aws-role:arn:...`` with ``external_id``), never a secret.

Tenant-bound (the caller's tenant), blocking, and audited: each mutation appends a
``public.audit_log`` row (``source.added`` / ``source.updated`` / ``source.removed``, with the
before/after images) in the same transaction.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from typing import Any, Literal

import psycopg

from cloudops.errors import CloudopsError
from cloudops.service.admission import IngestGate
from cloudops.service.context import Caller, Conflict, InvalidInput, NotFound, audit, control_plane, require_tenant
from cloudops.sinks.postgres import sources as store
from cloudops.sinks.postgres.sources import SourceRecord
from cloudops.sources.manifests import DATASETS
from cloudops.sources.objects import list_objects
from cloudops.sources.stores import CREDENTIAL_REFS, IMPLEMENTED_KINDS, KINDS

__all__ = [
    "Layout",
    "Provider",
    "SourceRecord",
    "add_source",
    "check_source",
    "get_source",
    "list_sources",
    "probe_source",
    "remove_source",
    "update_source",
]

Provider = Literal["aws", "azure", "gcp", "oci", "alibaba", "focus"]
Layout = Literal["files", "manifest", "snapshot"]
_PROVIDERS = ("aws", "azure", "gcp", "oci", "alibaba", "focus")
_LAYOUTS = ("files", "manifest", "snapshot")
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_REF = re.compile(r"^((env|file|aws-role):.+|oci-instance-principal:)$")


def _validate(s: SourceRecord) -> SourceRecord:
    if not _ID.fullmatch(s.id):
        raise InvalidInput(f"invalid source id {s.id!r}: lowercase letters, digits, '_', '.', '-' (at most 64)")
    if s.provider not in _PROVIDERS:
        raise InvalidInput(f"unknown provider {s.provider!r}: choose from {', '.join(_PROVIDERS)}")
    if s.layout not in _LAYOUTS:
        raise InvalidInput(f"unknown layout {s.layout!r}: choose from {', '.join(_LAYOUTS)}")
    if not s.bucket:
        raise InvalidInput("a source needs a bucket")
    if s.schedule_s is not None and s.schedule_s < 60:
        raise InvalidInput("--schedule-s must be at least 60 seconds")
    if s.credentials_ref is not None and not _REF.fullmatch(s.credentials_ref):
        raise InvalidInput(
            f"credentials_ref {s.credentials_ref!r} must be env:NAME, file:/path, aws-role:ARN or "
            "oci-instance-principal: (a reference, never a secret)"
        )
    if s.external_id is not None and not (s.credentials_ref or "").startswith("aws-role:"):
        raise InvalidInput("external_id is only used with an aws-role: credentials_ref")
    if s.endpoint_url is not None and not s.endpoint_url.startswith(("http://", "https://")):
        raise InvalidInput(f"endpoint_url {s.endpoint_url!r} must be an http(s) URL")
    _validate_kind(s)
    return s


def _validate_kind(s: SourceRecord) -> None:
    """The kind and its settings (issue 15): see cloudops.sources.stores."""
    if s.kind not in KINDS:
        raise InvalidInput(f"unknown source kind {s.kind!r}: choose from {', '.join(KINDS)}")
    if s.kind not in IMPLEMENTED_KINDS:
        raise InvalidInput(f"source kind {s.kind!r} cannot be read by this version of cloudops yet")
    if not isinstance(s.options, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | bool) for k, v in s.options.items()
    ):
        raise InvalidInput("source options must be KEY=VALUE settings (strings, numbers or booleans)")
    dataset = str(s.options.get("dataset", "")).lower().replace("amortised", "amortized")
    if dataset and dataset not in DATASETS:
        raise InvalidInput(f"option dataset={s.options['dataset']!r}: choose from {', '.join(DATASETS)}")
    if s.kind == "azure-blob" and not s.endpoint_url:
        raise InvalidInput("an azure-blob source needs --endpoint-url https://<account>.blob.core.windows.net")
    forms = CREDENTIAL_REFS[s.kind]
    if s.credentials_ref is not None and not s.credentials_ref.startswith(forms):
        raise InvalidInput(f"a {s.kind} source's credentials_ref is one of: {', '.join(f + '...' for f in forms)}")


def _overlap(conn: psycopg.Connection[Any], caller: Caller, s: SourceRecord) -> None:
    """Conflict if another tenant has a source in the same bucket whose prefix overlaps this one's."""
    for tenant, other in store.sources_of_tenants(conn):
        if tenant.id == caller.tenant_id or other.bucket != s.bucket:
            continue
        if other.prefix.startswith(s.prefix) or s.prefix.startswith(other.prefix):
            raise Conflict(
                f"s3://{s.bucket}/{s.prefix} overlaps a source of another tenant (prefix {other.prefix!r}): "
                "objects there could not be routed to one tenant"
            )


def _write(caller: Caller, s: SourceRecord, *, must_exist: bool | None) -> SourceRecord:
    _validate(s)
    with control_plane(caller) as conn:
        require_tenant(conn, caller, writable=True)
        _overlap(conn, caller, s)
        existing = store.get_source(conn, caller.tenant_id, s.id, lock=True)
        if must_exist is True and existing is None:
            raise NotFound(f"no source {s.id!r} for tenant {caller.tenant_id!r}")
        try:
            before, after = store.upsert_source(conn, caller.tenant_id, s)
        except psycopg.errors.UniqueViolation:
            raise Conflict(f"tenant {caller.tenant_id!r} already has a source at s3://{s.bucket}/{s.prefix}") from None
        except psycopg.errors.CheckViolation as exc:
            raise InvalidInput(f"source {s.id!r} rejected by the control plane: {exc.diag.message_primary}") from None
        audit(
            conn,
            caller,
            "source.added" if before is None else "source.updated",
            target=f"source:{s.id}",
            before=None if before is None else before.as_dict(),
            after=after.as_dict(),
        )
    return after


def add_source(
    caller: Caller,
    source_id: str,
    *,
    provider: str,
    bucket: str,
    prefix: str = "",
    credentials_ref: str | None = None,
    external_id: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    schedule_s: int | None = None,
    layout: str = "files",
    enabled: bool = True,
    kind: str = "s3",
    options: dict[str, Any] | None = None,
    check: bool = False,
) -> SourceRecord:
    """Create or replace the caller's source ``source_id`` (idempotent by id).

    ``kind`` is where its objects live (s3, azure-blob, gcs; see :mod:`cloudops.sources.stores`),
    ``options`` the kind's own settings (e.g. ``{"dataset": "focus"}`` for Azure exports).
    ``check``: list the source once before saving it (:func:`probe_source`); nothing is saved if
    that fails.

    Raises InvalidInput (bad id, provider, layout, schedule, reference), Conflict (the bucket and
    prefix overlap another tenant's source, or another source of this tenant has them; the
    tenant is being deleted), NotFound (no such tenant), ConfigError (no control plane).
    """
    record = SourceRecord(
        id=source_id,
        provider=provider,
        bucket=bucket,
        prefix=prefix,
        credentials_ref=credentials_ref,
        schedule_s=schedule_s,
        enabled=enabled,
        layout=layout,
        endpoint_url=endpoint_url,
        region=region,
        external_id=external_id,
        kind=kind,
        options=dict(options or {}),
    )
    if check:
        probe_source(caller, _validate(record))
    return _write(caller, record, must_exist=None)


def check_source(caller: Caller, source_id: str) -> int:
    """List the caller's source once, with its own endpoint, region and credentials; returns how many
    objects it holds under its prefix. Raises InvalidInput with the reason when it cannot be listed
    (bad or missing credentials, missing bucket / container, no permission, unreachable), NotFound.
    Blocks (runs its own event loop: call it from a thread, like every service function)."""
    return probe_source(caller, get_source(caller, source_id))


def probe_source(caller: Caller, source: SourceRecord) -> int:
    """List ``source`` (saved or not) once; see :func:`check_source`."""
    settings = caller.settings

    async def listing() -> int:
        gate = IngestGate(settings)
        access = await gate.access(caller.tenant_id, source)
        return len(await list_objects(settings.aws, source.bucket, source.prefix, access=access))

    try:
        return asyncio.run(listing())
    except CloudopsError as exc:
        raise InvalidInput(f"source {source.id!r} cannot be listed: {exc}") from None


_UNSET: Any = object()


def update_source(caller: Caller, source_id: str, **changes: Any) -> SourceRecord:
    """Change some fields of an existing source (``provider``, ``bucket``, ``prefix``, ``credentials_ref``,
    ``external_id``, ``endpoint_url``, ``region``, ``schedule_s``, ``layout``, ``enabled``).

    Raises NotFound, InvalidInput (unknown field or bad value), Conflict, like :func:`add_source`.
    """
    allowed = set(SourceRecord.__dataclass_fields__) - {"id"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(sorted(unknown))} of a source")
    current = get_source(caller, source_id)
    return _write(caller, replace(current, **changes), must_exist=True)


def list_sources(caller: Caller) -> list[SourceRecord]:
    """The caller's sources, by id. Raises NotFound (no such tenant), ConfigError. Blocks."""
    with control_plane(caller) as conn:
        require_tenant(conn, caller)
        return store.list_sources(conn, caller.tenant_id)


def get_source(caller: Caller, source_id: str) -> SourceRecord:
    """One of the caller's sources; NotFound if the tenant has none by that id."""
    with control_plane(caller) as conn:
        require_tenant(conn, caller)
        found = store.get_source(conn, caller.tenant_id, source_id)
    if found is None:
        raise NotFound(f"no source {source_id!r} for tenant {caller.tenant_id!r}")
    return found


def remove_source(caller: Caller, source_id: str) -> SourceRecord:
    """Remove a source with its file ledger and period versions (loaded rows stay in ClickHouse).

    Raises NotFound, Conflict (tenant being deleted). Audited as ``source.removed``.
    """
    with control_plane(caller) as conn:
        require_tenant(conn, caller, writable=True)
        before = store.delete_source(conn, caller.tenant_id, source_id)
        if before is None:
            raise NotFound(f"no source {source_id!r} for tenant {caller.tenant_id!r}")
        audit(conn, caller, "source.removed", target=f"source:{source_id}", before=before.as_dict())
    return before
