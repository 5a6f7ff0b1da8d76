"""Redis sink: live "data loaded" notifications (per-tenant data version + pub/sub)."""

from cloudops.sinks.redis.cache import QueryCache, cache_key
from cloudops.sinks.redis.notify import (
    Loaded,
    LoadedSubscription,
    RedisOrUrl,
    current_version,
    loaded_channel,
    publish_loaded,
    subscribe_loaded,
    version_key,
)

__all__ = [
    "Loaded",
    "LoadedSubscription",
    "QueryCache",
    "RedisOrUrl",
    "cache_key",
    "current_version",
    "loaded_channel",
    "publish_loaded",
    "subscribe_loaded",
    "version_key",
]
