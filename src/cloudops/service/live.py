"""Live events of the pipeline: what the agents tell subscribers (``/graphql/live``).

One call per ledger transition or period swap; each appends one event to the tenant's
Redis stream (:func:`cloudops.sinks.redis.events.publish_event`). Best effort by contract:
with no Redis or no control plane configured it does nothing, and any failure (Redis or
PostgreSQL down, a row gone) is logged and swallowed: an event is never worth failing a
file. Returns the event id, or None when nothing was published.

``file`` events carry the file's ledger row as it is after the transition: ``file_id``,
``source_id``, ``url``, ``state``, ``rows_in``, ``rows_landed``, ``rows_rejected``,
``source_totals`` and ``landed_totals`` (currency -> money string) and ``last_error``.
``period`` events carry what the swap published (source, period, version, replaced
version, files, rows, totals as money strings).

One Redis client (one connection pool) per Redis URL serves every event of the process: a
file moves through half a dozen transitions, and a connection per event cost a TCP (or TLS)
handshake each time. A caller that already holds the file's ledger row (``advance`` returns
it) passes it to :func:`publish_file`, which then does not read the ledger again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis

from cloudops.settings import Settings
from cloudops.sinks.postgres import ledger
from cloudops.sinks.redis.events import publish_event

__all__ = ["file_data", "publish_file", "publish_period"]

log = logging.getLogger(__name__)


def file_data(entry: ledger.LedgerEntry) -> dict[str, Any]:
    """The ``file`` event body of one ledger row (money already strings in the row)."""
    return {
        "file_id": entry.file_id,
        "source_id": entry.source_id,
        "url": entry.url,
        "state": entry.state,
        "rows_in": entry.rows_in,
        "rows_landed": entry.rows_landed,
        "rows_rejected": entry.rows_rejected,
        "source_totals": entry.source_totals,
        "landed_totals": entry.landed_totals,
        "last_error": entry.last_error,
    }


# Redis URL -> (the event loop its connections belong to, the client). A redis.asyncio
# connection is bound to the loop that opened it; a process normally runs one loop, but tests
# and CLI commands may run several in turn, and a new loop gets a new client.
_clients: dict[str, tuple[asyncio.AbstractEventLoop, aioredis.Redis]] = {}


def _client(url: str) -> aioredis.Redis:
    """This process's client for ``url``, created on first use (see module doc)."""
    loop = asyncio.get_running_loop()
    cached = _clients.get(url)
    if cached is not None and cached[0] is loop:
        return cached[1]
    # Bounded: an unreachable Redis costs the file at most a few seconds, never a hang. The
    # health check re-tests a connection idle for 30 s, so one broken by a Redis restart is
    # replaced before an event is lost on it.
    client = aioredis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=2.0, health_check_interval=30)
    _clients[url] = (loop, client)
    return client


async def _publish(url: str, tenant: str, kind: str, data: Mapping[str, Any]) -> str:
    return await publish_event(_client(url), tenant, kind, data)


async def publish_file(
    settings: Settings, tenant: str, file_id: str, entry: ledger.LedgerEntry | None = None
) -> str | None:
    """Publish the file's ledger row as a ``file`` event. Never raises (see module doc).

    ``entry``: the row as the caller just wrote it (what ``ledger.advance`` returns); without
    it the row is read from the ledger.
    """
    dsn = settings.postgres.dsn
    if not settings.redis.url or (entry is None and not dsn):
        return None
    try:
        if entry is None and dsn:
            entry = await asyncio.to_thread(ledger.get_file, dsn, tenant, file_id)
        if entry is None:  # a file of no registered source has no ledger row
            return None
        return await _publish(settings.redis.url, tenant, "file", file_data(entry))
    except Exception as exc:
        log.warning("live: no file event for %s/%s: %s", tenant, file_id, exc)
        return None


async def publish_period(settings: Settings, tenant: str, data: Mapping[str, Any]) -> str | None:
    """Publish a ``period`` event (a period version swapped in). Never raises (see module doc)."""
    if not settings.redis.url:
        return None
    try:
        return await _publish(settings.redis.url, tenant, "period", data)
    except Exception as exc:
        log.warning("live: no period event for %s: %s", tenant, exc)
        return None
