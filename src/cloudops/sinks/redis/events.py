"""A tenant's live events with a bounded replay: the Redis stream ``cloudops:<t>:events``.

Every event is one stream entry ``{kind, data}`` (``data``: a JSON object; Decimals as
strings). The entry id (``<ms>-<seq>``, increasing) is the event id a client keeps: after a
reconnect it asks for what came after its last id and gets it, as long as the event is
still among the newest :data:`REPLAY_EVENTS` of the tenant (the stream is trimmed to about
that many, ``MAXLEN ~``). Kinds: ``loaded`` (a file's receipt, written by
:func:`cloudops.sinks.redis.notify.publish_loaded` in the same script as the data version
bump), and whatever agents publish with :func:`publish_event` (``file`` ledger transitions,
``period`` swaps, ``recommendation``, ``pull_request``).

The stream lives under the tenant's namespace, so purging a tenant deletes it. Coroutines on
``redis.asyncio``; connection failures raise :class:`~cloudops.errors.TransientError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from cloudops.errors import TransientError
from cloudops.settings import validate_tenant

__all__ = [
    "REPLAY_EVENTS",
    "LiveEvent",
    "check_event_id",
    "events_key",
    "publish_event",
    "read_events",
    "replay_events",
]

REPLAY_EVENTS = 1000
"""Events kept per tenant for subscribers that reconnect (approximate: ``XADD MAXLEN ~``)."""

_ID = re.compile(r"\d{1,20}-\d{1,20}")


def events_key(tenant: str) -> str:
    """``cloudops:<tenant>:events`` (validates the id: ValueError)."""
    return f"cloudops:{validate_tenant(tenant)}:events"


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One event of a tenant: ``id`` (stream id), ``kind``, ``data``."""

    id: str
    tenant: str
    kind: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def at(self) -> datetime:
        """When Redis recorded it (from the id's millisecond part)."""
        return datetime.fromtimestamp(int(self.id.split("-")[0]) / 1000, tz=UTC)


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _decode(tenant: str, entry_id: Any, fields: Any) -> LiveEvent:
    eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    kind = fields.get(b"kind", b"").decode()
    try:
        data = orjson.loads(fields.get(b"data", b"{}"))
    except orjson.JSONDecodeError:
        data = {}
    return LiveEvent(eid, tenant, kind, data if isinstance(data, dict) else {"value": data})


def check_event_id(event_id: str) -> str:
    """``event_id`` if it is a stream id (``<ms>-<seq>``), else ValueError."""
    if not _ID.fullmatch(event_id):
        raise ValueError(f"invalid event id {event_id!r}: expected <ms>-<seq>")
    return event_id


async def publish_event(
    client: aioredis.Redis, tenant: str, kind: str, data: Mapping[str, Any], *, maxlen: int = REPLAY_EVENTS
) -> str:
    """Append one event to the tenant's stream; returns its id. Not idempotent. Never blocks the loop."""
    body = orjson.dumps(dict(data), default=_json_default)
    try:
        raw = await client.xadd(events_key(tenant), {"kind": kind, "data": body}, maxlen=maxlen, approximate=True)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise TransientError(f"Redis unavailable: {exc}") from exc
    return raw.decode() if isinstance(raw, bytes) else str(raw)


async def replay_events(
    client: aioredis.Redis, tenant: str, after: str, *, count: int = REPLAY_EVENTS
) -> list[LiveEvent]:
    """Events after ``after`` (exclusive) still in the stream, oldest first (at most ``count``)."""
    check_event_id(after)
    try:
        rows: Any = await client.xrange(events_key(tenant), min=f"({after}", max="+", count=count)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise TransientError(f"Redis unavailable: {exc}") from exc
    return [_decode(tenant, i, f) for i, f in rows]


async def read_events(
    client: aioredis.Redis, positions: Mapping[str, str], *, block_ms: int, count: int = 500
) -> list[LiveEvent]:
    """New events of several tenants: ``positions`` maps tenant -> last id seen (``$``: from now).

    Blocks (without blocking the loop) up to ``block_ms`` for the first one. Returns them in
    stream order per tenant.
    """
    if not positions:
        return []
    streams: Any = {events_key(t): p for t, p in positions.items()}
    tenant_of = {events_key(t): t for t in positions}
    try:
        answer: Any = await client.xread(streams, count=count, block=block_ms)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise TransientError(f"Redis unavailable: {exc}") from exc
    except ResponseError as exc:  # e.g. a stream key of another type
        raise TransientError(f"Redis refused XREAD: {exc}") from exc
    out: list[LiveEvent] = []
    for key, rows in answer or []:
        name = key.decode() if isinstance(key, bytes) else str(key)
        out.extend(_decode(tenant_of[name], i, f) for i, f in rows)
    return out
