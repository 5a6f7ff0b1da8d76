"""Which tenant and source an object belongs to: bucket + longest key prefix (pure).

One fleet of workers serves every tenant, so an S3 notification is routed by the control
plane's sources: among the enabled sources in the object's bucket whose prefix starts its
key, the longest prefix wins. An object is not routed (:class:`Unroutable`, with the reason
that goes to the DLQ) when no source matches, when sources of two tenants match (the
service refuses overlapping sources of two tenants, so this means the control plane
changed under us: never guess a tenant), or when its tenant is suspended or being deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Route", "RouteEntry", "RouteTable", "Unroutable"]


class Unroutable(Exception):
    """The object cannot be given to one tenant's source; ``reason`` says why (one line)."""

    def __init__(self, reason: str, *, tenant: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tenant = tenant


@dataclass(frozen=True, slots=True)
class RouteEntry:
    """One source as routing sees it."""

    tenant: str
    tenant_state: str
    source_id: str
    bucket: str
    prefix: str
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Route:
    """Where an object goes."""

    tenant: str
    source_id: str


class RouteTable:
    """An immutable snapshot of every tenant's sources, indexed by bucket."""

    def __init__(self, entries: Iterable[RouteEntry]) -> None:
        self._by_bucket: dict[str, list[RouteEntry]] = {}
        for e in entries:
            self._by_bucket.setdefault(e.bucket, []).append(e)
        for lst in self._by_bucket.values():
            lst.sort(key=lambda e: len(e.prefix), reverse=True)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_bucket.values())

    def route(self, bucket: str, key: str) -> Route:
        """The (tenant, source) of ``s3://bucket/key``; raises :class:`Unroutable` with the reason."""
        where = f"s3://{bucket}/{key}"
        matching = [e for e in self._by_bucket.get(bucket, ()) if key.startswith(e.prefix)]
        enabled = [e for e in matching if e.enabled]
        if not enabled:
            if matching:
                raise Unroutable(f"{where} matches only disabled source(s) {_ids(matching)}", tenant=matching[0].tenant)
            raise Unroutable(f"{where} matches no source of any tenant")
        tenants = sorted({e.tenant for e in enabled})
        if len(tenants) > 1:
            raise Unroutable(f"{where} matches sources of several tenants ({', '.join(tenants)}): {_ids(enabled)}")
        best = enabled[0]  # sorted longest prefix first
        if best.tenant_state == "suspended":
            raise Unroutable(f"tenant {best.tenant} is suspended (source {best.source_id})", tenant=best.tenant)
        if best.tenant_state == "deleting":
            raise Unroutable(f"tenant {best.tenant} is being deleted (source {best.source_id})", tenant=best.tenant)
        return Route(best.tenant, best.source_id)

    def owner(self, tenant: str, source_id: str) -> RouteEntry | None:
        """The entry of ``tenant``'s source ``source_id``, if the table has it."""
        for lst in self._by_bucket.values():
            for e in lst:
                if e.tenant == tenant and e.source_id == source_id:
                    return e
        return None


def _ids(entries: Iterable[RouteEntry]) -> str:
    return ", ".join(f"{e.tenant}/{e.source_id}" for e in entries)
