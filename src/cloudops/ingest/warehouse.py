"""The ClickHouse side of loading, as the loader and the period promoter share it.

A tenant's database is provisioned (migrated) on first sight; every step is retried through
an outage of up to ``load.outage_budget_s``. While a step waits, the agent takes no new
message from its partitions: the consumer pauses instead of buffering (the broker keeps the
backlog), so memory stays bounded. New data is announced on Redis (the tenant's data version)
before its receipt, so whoever sees a receipt can rely on caches no longer serving older answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from cloudops.sinks.clickhouse import ClickHouse, database_for, migrate
from cloudops.sinks.redis import publish_loaded
from cloudops.topics.retry import with_retries
from cloudops.topics.runtime import Runtime

__all__ = ["Warehouse"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class Warehouse:
    """One ClickHouse client, the tenants provisioned on it so far, and the retry policy of the loader."""

    def __init__(self, rt: Runtime, ch: ClickHouse) -> None:
        self.rt = rt
        self.ch = ch
        self._ready: set[str] = set()

    async def retry(self, fn: Callable[[], Awaitable[T]], what: str) -> T:
        """Run a ClickHouse step, retrying through an outage of up to ``load.outage_budget_s``."""
        ing = self.rt.settings.ingest
        return await with_retries(
            fn,
            what=what,
            attempts=ing.max_attempts,
            base_s=ing.backoff_base_s,
            max_s=ing.backoff_max_s,
            budget_s=self.rt.settings.load.outage_budget_s,
        )

    async def ensure_tenant(self, tenant: str) -> None:
        """Create or migrate the tenant's database, once per process."""
        if tenant not in self._ready:
            window = self.rt.settings.clickhouse.dedup_window
            cluster = self.rt.settings.clickhouse.cluster
            await self.retry(
                lambda: asyncio.to_thread(migrate, self.ch, tenant, dedup_window=window, cluster=cluster),
                f"migrate {database_for(tenant)}",
            )
            self._ready.add(tenant)

    async def announce(self, tenant: str, what: str, detail: dict[str, Any]) -> None:
        """Bump the tenant's data version and tell live subscribers (when Redis is configured).

        Best effort: the rows are already in ClickHouse; a Redis outage is logged, not retried,
        and never blocks loading.
        """
        url = self.rt.settings.redis.url
        if not url:
            return
        try:
            await publish_loaded(url, tenant, what, detail)
        except Exception as exc:
            log.warning("load: could not publish the data version to Redis: %s", exc)
