"""Query result cache in Redis, keyed by tenant + data version + normalised query.

A completed load bumps the tenant's data version (:func:`publish_loaded`), so entries
of older versions are never read again (they expire by TTL): results are never stale.
The tenant id is part of every key, so entries never cross tenants.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from cloudops.errors import TransientError
from cloudops.settings import validate_tenant
from cloudops.sinks.redis.notify import version_key

__all__ = ["QueryCache", "cache_key"]


def cache_key(tenant: str, version: int, fingerprint: str) -> str:
    """``cloudops:<tenant>:q:<version>:<fingerprint>``."""
    return f"cloudops:{validate_tenant(tenant)}:q:{version}:{fingerprint}"


# One round trip for a lookup: read the tenant's version and the entry of that version together.
_GET = """
local v = redis.call('GET', KEYS[1]) or '0'
return {v, redis.call('GET', ARGV[1] .. v .. ':' .. ARGV[2])}
"""


class QueryCache:
    """Get/set cached query results (JSON-able payloads). One client, reused."""

    def __init__(self, url: str, *, ttl_s: int = 86_400) -> None:
        self._redis = aioredis.from_url(url)
        self._get = self._redis.register_script(_GET)
        self.ttl_s = ttl_s

    async def version(self, tenant: str) -> int:
        """The tenant's current data version (0 if nothing was ever loaded)."""
        try:
            raw = await self._redis.get(version_key(tenant))
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise TransientError(f"Redis unavailable: {exc}") from exc
        return int(raw or 0)

    async def get(self, tenant: str, fingerprint: str) -> tuple[int, Any | None]:
        """(current version, cached payload or None)."""
        prefix = cache_key(tenant, 0, "")[: -len("0:")]
        try:
            version, raw = await self._get(keys=[version_key(tenant)], args=[prefix, fingerprint])
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise TransientError(f"Redis unavailable: {exc}") from exc
        return int(version), (orjson.loads(raw) if raw is not None else None)

    async def set(self, tenant: str, version: int, fingerprint: str, payload: Any) -> None:
        """Store ``payload`` for the given version (set only if still current is not required:
        a payload stored under an old version is simply never read)."""
        try:
            await self._redis.set(cache_key(tenant, version, fingerprint), orjson.dumps(payload), ex=self.ttl_s)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise TransientError(f"Redis unavailable: {exc}") from exc

    async def close(self) -> None:
        await self._redis.aclose()
