"""Live "data loaded" notifications over Redis: a per-tenant data version plus pub/sub.

The contract, per tenant ``<t>`` (a validated tenant id):

* key ``cloudops:<t>:data_version``: an integer, the tenant's data version. It is
  incremented once per :func:`publish_loaded` call and never decreases (a missing key
  reads as 0). Caches keyed by it go stale by themselves when data lands.
* channel ``cloudops:<t>:loaded``: one JSON object per :func:`publish_loaded` call,
  ``{"data_version": int, "tenant": str, "file_id": str, "published_at": ISO-8601 UTC,
  "detail": object}``; ``data_version`` is the version that call produced.

The increment and the publish run as one Lua script, so they are atomic and messages
on a channel carry strictly increasing versions in publish order. The same script appends
the message to the tenant's event stream (kind ``loaded``, see
:mod:`cloudops.sinks.redis.events`), from which reconnecting subscribers replay what they missed. Pub/sub is
fire-and-forget: a subscriber that is not connected misses messages and catches up by
reading the key (:func:`current_version`).

All functions are coroutines on ``redis.asyncio`` and never block the event loop.
Each takes a Redis URL (a client is opened and closed around the call: fine for
occasional calls) or a ``redis.asyncio.Redis`` client (borrowed, never closed here:
reuse one on hot paths). Connection failures raise
:class:`~cloudops.errors.TransientError`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self, TypeAlias

import orjson
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from cloudops.errors import TransientError
from cloudops.settings import validate_tenant
from cloudops.sinks.redis.events import REPLAY_EVENTS, events_key

__all__ = [
    "Loaded",
    "LoadedSubscription",
    "RedisOrUrl",
    "current_version",
    "loaded_channel",
    "publish_loaded",
    "subscribe_loaded",
    "version_key",
]

log = logging.getLogger(__name__)

RedisOrUrl: TypeAlias = "aioredis.Redis | str"
"""A ``redis.asyncio.Redis`` client (borrowed, never closed here) or a Redis URL."""

_SUBSCRIBE_TIMEOUT_S = 10.0

# KEYS[1] version key, KEYS[2] the tenant's event stream (see events.py); ARGV[1] channel;
# ARGV[2], ARGV[3] the message before and after the version; ARGV[4] the stream's length bound.
_PUBLISH_LUA = """
local v = redis.call('INCR', KEYS[1])
local msg = ARGV[2] .. v .. ARGV[3]
redis.call('PUBLISH', ARGV[1], msg)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'kind', 'loaded', 'data', msg)
return v
"""


def version_key(tenant: str) -> str:
    """The key holding the tenant's data version (validates the id: ValueError)."""
    return f"cloudops:{validate_tenant(tenant)}:data_version"


def loaded_channel(tenant: str) -> str:
    """The pub/sub channel of the tenant's "loaded" messages (validates the id: ValueError)."""
    return f"cloudops:{validate_tenant(tenant)}:loaded"


@dataclass(frozen=True, slots=True)
class Loaded:
    """One "loaded" message: ``file_id`` landed for ``tenant``, making its data ``data_version``."""

    tenant: str
    file_id: str
    data_version: int
    published_at: datetime
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: bytes | str) -> Loaded:
        """Decode a channel message; ValueError if it is not one."""
        try:
            obj = orjson.loads(raw)
            return cls(
                tenant=str(obj["tenant"]),
                file_id=str(obj["file_id"]),
                data_version=int(obj["data_version"]),
                published_at=datetime.fromisoformat(obj["published_at"]),
                detail=dict(obj.get("detail") or {}),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a cloudops loaded message: {exc}") from exc


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


@asynccontextmanager
async def _client(url_or_client: RedisOrUrl) -> AsyncIterator[aioredis.Redis]:
    if not isinstance(url_or_client, str):
        yield url_or_client
        return
    client = aioredis.Redis.from_url(url_or_client)
    try:
        yield client
    finally:
        await client.aclose()


async def publish_loaded(
    url_or_client: RedisOrUrl, tenant: str, file_id: str, detail: Mapping[str, Any] | None = None
) -> int:
    """Bump the tenant's data version and announce ``file_id`` on its channel; returns the new version.

    ``detail`` (e.g. rows and totals of the receipt) travels in the message; it must be
    JSON-serialisable, Decimal values being written as strings (money is never a float).
    Atomic (one Lua script). Not idempotent: a repeated call bumps the version again,
    which only makes caches refresh once more. Succeeds whether or not anyone is
    subscribed. Raises ValueError for an invalid tenant id, TypeError for a detail that
    cannot be serialised, :class:`~cloudops.errors.TransientError` when Redis cannot be
    reached.
    """
    key, channel = version_key(tenant), loaded_channel(tenant)
    body = orjson.dumps(
        {
            "tenant": tenant,
            "file_id": file_id,
            "published_at": datetime.now(UTC).isoformat(),
            "detail": dict(detail or {}),
        },
        default=_json_default,
    )
    # '{"data_version":' + v + ',' + the rest of the object: valid JSON whatever v is.
    head, tail = b'{"data_version":', b"," + body[1:]
    try:
        async with _client(url_or_client) as client:
            script = client.register_script(_PUBLISH_LUA)
            version = await script(keys=[key, events_key(tenant)], args=[channel, head, tail, REPLAY_EVENTS])
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise TransientError(f"Redis unavailable: {exc}") from exc
    return int(version)


async def current_version(url_or_client: RedisOrUrl, tenant: str) -> int:
    """The tenant's data version (0 if nothing was ever published). Raises like :func:`publish_loaded`."""
    key = version_key(tenant)
    try:
        async with _client(url_or_client) as client:
            raw = await client.get(key)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise TransientError(f"Redis unavailable: {exc}") from exc
    return 0 if raw is None else int(raw)


class LoadedSubscription:
    """A live subscription to one tenant's "loaded" channel; see :func:`subscribe_loaded`.

    Use as ``async with subscribe_loaded(url, tenant) as sub:`` then ``async for msg in
    sub`` (waits forever between messages; cancel the task or break to stop) or
    ``await sub.get(timeout)``. Entering returns only once Redis has confirmed the
    subscription, so anything published after ``__aenter__`` returns is received.
    Messages that do not decode are logged and skipped. Leaving unsubscribes and closes
    what the subscription opened.
    """

    def __init__(self, url_or_client: RedisOrUrl, tenant: str) -> None:
        self.tenant = validate_tenant(tenant)
        self.channel = loaded_channel(tenant)
        self._source = url_or_client
        self._client: aioredis.Redis | None = None
        self._pubsub: PubSub | None = None

    async def __aenter__(self) -> Self:
        source = self._source
        self._client = aioredis.Redis.from_url(source) if isinstance(source, str) else source
        self._pubsub = self._client.pubsub()
        try:
            await self._pubsub.subscribe(self.channel)
            async with asyncio.timeout(_SUBSCRIBE_TIMEOUT_S):
                while True:
                    msg = await self._pubsub.get_message(timeout=None)
                    if msg is not None and msg["type"] == "subscribe":
                        break
        except (RedisConnectionError, RedisTimeoutError, TimeoutError) as exc:
            await self._close()
            raise TransientError(f"Redis subscribe to {self.channel} failed: {exc!r}") from exc
        except BaseException:
            await self._close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        pubsub, client = self._pubsub, self._client
        self._pubsub = self._client = None
        if pubsub is not None:
            with suppress(RedisConnectionError, RedisTimeoutError):
                await pubsub.unsubscribe()
            await pubsub.aclose()  # type: ignore[no-untyped-call]
        if client is not None and isinstance(self._source, str):
            await client.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Loaded:
        msg = await self.get(None)
        assert msg is not None
        return msg

    async def get(self, timeout: float | None) -> Loaded | None:
        """The next message, waiting at most ``timeout`` seconds (None: forever); None on timeout.

        Raises RuntimeError outside ``async with``, TransientError if the connection drops.
        """
        if self._pubsub is None:
            raise RuntimeError("use `async with subscribe_loaded(...)` before reading messages")
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                msg = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=remaining)
            except (RedisConnectionError, RedisTimeoutError) as exc:
                raise TransientError(f"Redis subscription to {self.channel} lost: {exc}") from exc
            if msg is not None and msg["type"] == "message":
                try:
                    return Loaded.from_json(msg["data"])
                except ValueError as exc:
                    log.warning("skipping a message on %s: %s", self.channel, exc)
            if deadline is not None and loop.time() >= deadline:
                return None


def subscribe_loaded(url_or_client: RedisOrUrl, tenant: str) -> LoadedSubscription:
    """Subscribe to the tenant's "loaded" messages: ``async with subscribe_loaded(r, t) as sub``.

    Yields :class:`Loaded` in publish order (increasing ``data_version``), only for this
    tenant. Messages published while not subscribed are lost; compare ``data_version``
    with :func:`current_version` to detect a gap. Validates the tenant id at once
    (ValueError); the connection is made on ``async with`` entry (TransientError if
    Redis cannot be reached or does not confirm within 10 s). With a borrowed client,
    the subscription uses one connection of its pool until exit.
    """
    return LoadedSubscription(url_or_client, tenant)
