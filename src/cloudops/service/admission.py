"""Ingest admission: may a worker act on this ``billing-files`` event, and with which object-store access?

With a control plane, a worker refuses (:class:`Refused`, the reason for the dead letter) an
event whose tenant is not active (suspended, being deleted, deleted, never registered), or
that names a source its tenant does not own (a forged or stale event never reads another
tenant's bucket with that tenant's credentials). An admitted event gets the source's
:class:`~cloudops.sources.objects.ObjectStoreAccess`: its endpoint, region and credentials
resolved from its ``credentials_ref``. Without a control plane every event is admitted with
the deployment's own access (the embedded demo).

One :class:`IngestGate` per worker process (:func:`gate_for`); source rows are cached for
``CLOUDOPS_INGEST__ROUTES_TTL_S``, tenant states are read for every event (one indexed
query per file).
"""

from __future__ import annotations

import asyncio
import time

from cloudops.schemas.events import BillingFile
from cloudops.service.tenants import ingest_verdict
from cloudops.settings import Settings
from cloudops.sinks.postgres.sources import SourceRecord, get_source
from cloudops.sources.credentials import CredentialsResolver, SourceIdentity
from cloudops.sources.objects import ObjectStoreAccess
from cloudops.sources.stores import DOCUMENT_CREDENTIAL_KINDS

__all__ = ["IngestGate", "Refused", "gate_for"]

_REASONS = {
    "suspended": "tenant {t} is suspended: nothing is ingested until `cloudops tenants resume {t}` (replay this then)",
    "deleting": "tenant {t} is being deleted: its events are not ingested",
    "deleted": "belongs to a deleted tenant ({t}): not ingested",
    "unknown": "tenant {t} is not registered in the control plane",
}


class Refused(Exception):
    """The event must not be processed; ``reason`` (one line) goes to the dead letter."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class IngestGate:
    """Admission checks and per-source access for one worker process."""

    def __init__(self, settings: Settings, resolver: CredentialsResolver | None = None) -> None:
        self._settings = settings
        self._dsn = settings.postgres.dsn
        self._resolver = resolver or CredentialsResolver(settings.aws)
        self._sources: dict[tuple[str, str], tuple[SourceRecord | None, float]] = {}

    @property
    def resolver(self) -> CredentialsResolver:
        return self._resolver

    async def source(self, tenant: str, source_id: str) -> SourceRecord | None:
        """The tenant's source ``source_id`` (cached briefly), or None if the tenant has none by that id."""
        if not self._dsn:
            return None
        key = (tenant, source_id)
        hit = self._sources.get(key)
        if hit is not None and time.monotonic() - hit[1] < self._settings.ingest.routes_ttl_s:
            return hit[0]
        found = await asyncio.to_thread(get_source, self._dsn, tenant, source_id)
        self._sources[key] = (found, time.monotonic())
        return found

    async def access(self, tenant: str, source: SourceRecord | None) -> ObjectStoreAccess | None:
        """The object-store access of ``source`` (None: the deployment's own)."""
        if source is None:
            return None
        kind = getattr(source, "kind", "s3")
        if kind in DOCUMENT_CREDENTIAL_KINDS:  # a service-account document: the store reads the reference
            return ObjectStoreAccess(
                source.endpoint_url, source.region, None, kind, dict(source.options), source.credentials_ref
            )
        creds = await self._resolver.resolve(
            source.credentials_ref, SourceIdentity(tenant, source.id, source.external_id)
        )
        if kind == "s3" and creds is None and not source.endpoint_url and not source.region:
            return None
        return ObjectStoreAccess(source.endpoint_url, source.region, creds, kind, dict(source.options))

    async def admit(self, event: BillingFile) -> ObjectStoreAccess | None:
        """Check the event; returns the access to read its object with. Raises :class:`Refused`,
        ConfigError (a credentials reference that cannot work), TransientError."""
        if not self._dsn:
            return None
        verdict = await asyncio.to_thread(ingest_verdict, self._dsn, event.tenant)
        if verdict != "active":
            raise Refused(_REASONS[verdict].format(t=event.tenant))
        if event.source_id is None:
            return None
        source = await self.source(event.tenant, event.source_id)
        if source is None:
            raise Refused(f"tenant {event.tenant} has no source {event.source_id!r}: event refused")
        if event.bucket is not None and event.bucket != source.bucket:
            raise Refused(
                f"source {event.tenant}/{source.id} reads bucket {source.bucket!r}, not {event.bucket!r}: event refused"
            )
        if event.bucket is not None and not event.key.startswith(source.prefix):
            raise Refused(
                f"s3://{event.bucket}/{event.key} is outside source {event.tenant}/{source.id}: event refused"
            )
        return await self.access(event.tenant, source)


_gates: dict[int, tuple[Settings, IngestGate]] = {}


def gate_for(settings: Settings) -> IngestGate:
    """The process's gate for these settings (one per settings object)."""
    hit = _gates.get(id(settings))
    if hit is None or hit[0] is not settings:
        hit = (settings, IngestGate(settings))
        _gates[id(settings)] = hit
    return hit[1]
