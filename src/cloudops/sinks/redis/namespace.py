"""A tenant's Redis namespace: every key and channel of tenant ``t`` starts with ``cloudops:<t>:``.

Provisioning marks the namespace (``cloudops:<t>:data_version`` set to 0 if absent, so a
cache reader finds a version); purging deletes every key under the prefix (SCAN, never
KEYS). Synchronous: these run from the service layer (blocking, call from a thread in async
code).
"""

from __future__ import annotations

import redis

from cloudops.settings import validate_tenant

__all__ = ["ensure_namespace", "namespace_keys", "namespace_prefix", "purge_namespace"]


def namespace_prefix(tenant: str) -> str:
    """``cloudops:<tenant>:`` (validates the id: ValueError)."""
    return f"cloudops:{validate_tenant(tenant)}:"


def ensure_namespace(url: str, tenant: str) -> bool:
    """Create the tenant's data-version key if missing; True if this call created it. Idempotent."""
    client = redis.Redis.from_url(url)
    try:
        return bool(client.set(namespace_prefix(tenant) + "data_version", 0, nx=True))
    finally:
        client.close()


def namespace_keys(url: str, tenant: str) -> list[str]:
    """Every key of the tenant (SCAN over the prefix)."""
    client = redis.Redis.from_url(url)
    try:
        return sorted(k.decode() for k in client.scan_iter(match=namespace_prefix(tenant) + "*", count=500))
    finally:
        client.close()


def purge_namespace(url: str, tenant: str) -> int:
    """Delete every key of the tenant; returns how many. Idempotent (a second call deletes 0)."""
    client = redis.Redis.from_url(url)
    deleted = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=namespace_prefix(tenant) + "*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                deleted += int(client.delete(*batch))
                batch = []
        if batch:
            deleted += int(client.delete(*batch))
    finally:
        client.close()
    return deleted
