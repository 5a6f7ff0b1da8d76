"""Live updates: GraphQL subscriptions over WebSockets (``graphql-transport-ws``) at ``/graphql/live``.

Fed by each tenant's Redis event stream (:mod:`cloudops.sinks.redis.events`: receipts from
``publish_loaded``, and file, period, recommendation and pull-request events from the agents).
One :class:`EventHub` per process reads the streams of the tenants that have subscribers (one
blocking ``XREAD`` for all of them) and fans each event out to that tenant's subscribers only:
the tenant comes from the token, so a client can never name another tenant's topic. A client
that reconnects with ``lastEventId`` first gets what it missed (bounded replay: the stream
keeps about :data:`~cloudops.sinks.redis.events.REPLAY_EVENTS` per tenant), then live events,
without a gap or a repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any, cast

import redis.asyncio as aioredis
import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from cloudops.api.graphql.context import GqlContext, as_graphql_error
from cloudops.errors import TransientError
from cloudops.metrics import API_SUBSCRIBERS
from cloudops.service.context import InvalidInput
from cloudops.sinks.redis.events import LiveEvent, check_event_id, events_key, read_events, replay_events

__all__ = ["EventHub", "schema_parts"]

log = logging.getLogger(__name__)

_QUEUE = 10_000


def _order(event_id: str) -> tuple[int, int]:
    ms, seq = event_id.split("-")
    return int(ms), int(seq)


class EventHub:
    """Reads the event streams of subscribed tenants and fans events out (one reader per process)."""

    def __init__(self, url: str, *, block_ms: int = 1000) -> None:
        self._client = aioredis.Redis.from_url(url)
        self._block_ms = block_ms
        self._subscribers: dict[str, set[asyncio.Queue[LiveEvent | None]]] = {}
        self._positions: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._attaching = asyncio.Lock()

    async def _last_id(self, tenant: str) -> str:
        try:
            rows = await self._client.xrevrange(events_key(tenant), count=1)
        except (OSError, aioredis.ConnectionError) as exc:
            raise TransientError(f"Redis unavailable: {exc}") from exc
        if not rows:
            return "0-0"
        raw = rows[0][0]
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def attach(self, tenant: str) -> tuple[asyncio.Queue[LiveEvent | None], str]:
        """A queue of the tenant's events from now on, and the id they start after."""
        queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(_QUEUE)
        async with self._attaching:  # concurrent first subscribers of a tenant must share one set
            if tenant not in self._subscribers:
                self._positions[tenant] = await self._last_id(tenant)
                self._subscribers[tenant] = set()
            self._subscribers[tenant].add(queue)
        API_SUBSCRIBERS.inc()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="cloudops-event-hub")
        return queue, self._positions[tenant]

    def detach(self, tenant: str, queue: asyncio.Queue[LiveEvent | None]) -> None:
        subs = self._subscribers.get(tenant)
        if subs is not None and queue in subs:
            subs.discard(queue)
            API_SUBSCRIBERS.dec()
            if not subs:
                del self._subscribers[tenant]
                self._positions.pop(tenant, None)

    async def replay(self, tenant: str, after: str) -> list[LiveEvent]:
        return await replay_events(self._client, tenant, after)

    async def _run(self) -> None:
        while self._subscribers:
            try:
                events = await read_events(self._client, dict(self._positions), block_ms=self._block_ms)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the reader must outlive any failure: subscribers depend on it
                log.warning("event hub: %s; retrying", exc if isinstance(exc, TransientError) else repr(exc))
                await asyncio.sleep(1.0)
                continue
            for ev in events:
                if ev.tenant in self._positions:
                    self._positions[ev.tenant] = ev.id
                for q in list(self._subscribers.get(ev.tenant, ())):
                    try:
                        q.put_nowait(ev)
                    except asyncio.QueueFull:  # a subscriber too slow to keep up: end its subscription
                        self.detach(ev.tenant, q)
                        with contextlib.suppress(asyncio.QueueFull):
                            q.put_nowait(None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._client.aclose()


@strawberry.type(description="One live event of the caller's tenant.")
class Event:
    id: strawberry.ID = strawberry.field(description="Pass as lastEventId when reconnecting.")
    kind: str = strawberry.field(description="loaded, file, period, recommendation, pull_request, ...")
    at: datetime
    data: JSON


def _event(ev: LiveEvent) -> Event:
    return Event(id=strawberry.ID(ev.id), kind=ev.kind, at=ev.at, data=cast(JSON, ev.data))


@strawberry.type
class Query:
    @strawberry.field(description="The id of the newest event of the caller's tenant (start a subscription after it).")
    async def last_event_id(self, info: Info[GqlContext, None]) -> str | None:
        ctx = info.context
        caller = await ctx.caller("events:read")
        hub = _hub(ctx)
        last = await hub._last_id(caller.tenant_id)
        return None if last == "0-0" else last


def _hub(ctx: GqlContext) -> EventHub:
    hub = ctx.state.extras.get("hub")
    if not isinstance(hub, EventHub):
        raise as_graphql_error(InvalidInput("live events need Redis (CLOUDOPS_REDIS__URL)"))
    return hub


@strawberry.type
class Subscription:
    @strawberry.subscription(description="The caller's live events (receipts, file progress, period swaps, ...).")
    async def events(
        self, info: Info[GqlContext, None], kinds: list[str] | None = None, last_event_id: str | None = None
    ) -> AsyncGenerator[Event, None]:
        ctx = info.context
        caller = await ctx.caller("events:read")
        tenant = caller.tenant_id if caller.tenant is not None else None
        if tenant is None:
            raise as_graphql_error(InvalidInput("a platform-admin token is bound to no tenant"))
        if last_event_id is not None:
            try:
                check_event_id(last_event_id)
            except ValueError as exc:
                raise as_graphql_error(exc) from None
        hub = _hub(ctx)
        wanted = set(kinds or ())
        queue, start = await hub.attach(tenant)
        try:
            last = last_event_id
            if last_event_id is not None:
                for ev in await hub.replay(tenant, last_event_id):
                    last = ev.id
                    if not wanted or ev.kind in wanted:
                        yield _event(ev)
            floor = _order(last) if last is not None else _order(start)
            while True:
                live_event = await queue.get()
                if live_event is None:
                    return
                if _order(live_event.id) <= floor:
                    continue
                floor = _order(live_event.id)
                if not wanted or live_event.kind in wanted:
                    yield _event(live_event)
        finally:
            hub.detach(tenant, queue)


def schema_parts() -> dict[str, Any]:
    return {"query": Query, "subscription": Subscription}
