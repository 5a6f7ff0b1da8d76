"""Shared setup of the storage-source integration tests (``tests/integration/test_*_source.py``).

Every kind's test does the same around its own storage server: a tenant with a control plane,
the pipeline running against the embedded broker / ClickHouse / PostgreSQL with a fast schedule
tick, sources added through the service layer (the call the CLI and the API share, with
``--check`` or without), then waits for a file's ``billing-loaded`` receipt or a period swap,
reads what landed in ClickHouse and the file's ledger state. The tests keep only what is
specific to their storage.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.support.kafka import read_topic
from tests.support.settings import local_settings

from cloudops.app import create_app
from cloudops.embedded.broker import EmbeddedBroker
from cloudops.ingest.schedule import scan_due_sources
from cloudops.schemas.events import BillingLoaded, PeriodSwapped
from cloudops.service import sources as sources_svc
from cloudops.service.context import Caller
from cloudops.settings import Settings
from cloudops.sinks.clickhouse import connect, database_for
from cloudops.sinks.postgres import migrate
from cloudops.sinks.postgres.ledger import get_file
from cloudops.sinks.postgres.sources import SourceRecord
from cloudops.sinks.postgres.tenants import register_tenant
from cloudops.topics.admin import ensure_topics
from cloudops.topics.codec import decode_record

__all__ = [
    "Pipeline",
    "add_store_source",
    "landed",
    "ledger_entry",
    "new_tenant",
    "period_swaps",
    "receipt_for",
    "running_pipeline",
]


@dataclass(frozen=True)
class Pipeline:
    """A running pipeline for one tenant: its settings, runtime (for ``scan_due_sources``) and caller."""

    settings: Settings
    rt: Any
    caller: Caller

    @property
    def tenant(self) -> str:
        return self.settings.app.tenant

    @property
    def dsn(self) -> str:
        return self.settings.postgres.dsn or ""

    async def scan(self) -> int:
        """One schedule pass over every due source (as if its interval had passed); how many object
        versions it announced."""
        return await scan_due_sources(self.rt, {})


def new_tenant(postgres_dsn: str, tenant: str, settings: Settings | None = None) -> Caller:
    """Migrate and register ``tenant``; the caller acting for it (settings: at least the control plane)."""
    migrate(postgres_dsn, tenant)
    register_tenant(postgres_dsn, tenant)
    return Caller(actor=f"test:{tenant}", tenant=tenant, settings=settings or Settings(postgres={"dsn": postgres_dsn}))


@asynccontextmanager
async def running_pipeline(
    name: str,
    unique: str,
    tmp_path: Path,
    broker: EmbeddedBroker,
    chdb_dsn: str,
    postgres_dsn: str,
    *,
    tenant: str,
    **sections: Any,
) -> AsyncIterator[Pipeline]:
    """Every agent of app ``cloudops-<name>-<unique>`` running for a new ``tenant``; the schedule ticks
    every 0.5 s (``sections`` add or override settings sections, e.g. ``load={...}``, ``azure={...}``)."""
    sections.setdefault("ingest", {"schedule_tick_s": 0.5})
    settings = local_settings(
        name, unique, tmp_path, broker, chdb_dsn, tenant=tenant, postgres_dsn=postgres_dsn, **sections
    )
    caller = new_tenant(postgres_dsn, tenant, settings)
    await ensure_topics(settings.kafka)
    app, rt = create_app(settings)
    await app.start()
    try:
        yield Pipeline(settings, rt, caller)
    finally:
        await app.stop()


async def add_store_source(caller: Caller, source_id: str, *, check: bool = False, **fields: Any) -> SourceRecord:
    """``cloudops sources add`` through the service (run in a thread, as the API runs it): the
    source is listed once first when ``check`` (InvalidInput with the reason, nothing saved)."""
    return await asyncio.to_thread(sources_svc.add_source, caller, source_id, check=check, **fields)


async def receipt_for(
    settings: Settings, file_id: str | None = None, *, source_id: str | None = None, timeout: float = 120
) -> BillingLoaded:
    """The one ``billing-loaded`` receipt of ``file_id`` (or the one of the tenant's ``source_id``; waits for it)."""
    tenant = settings.app.tenant

    def receipts(rs: list[Any]) -> list[BillingLoaded]:
        return [
            r
            for r in (decode_record(BillingLoaded, x.value) for x in rs)
            if (r.file_id == file_id if file_id else (r.tenant, r.source_id) == (tenant, source_id))
        ]

    [receipt] = receipts(
        await read_topic(
            settings.kafka.bootstrap_servers, "billing-loaded", until=lambda rs: bool(receipts(rs)), timeout=timeout
        )
    )
    return receipt


async def period_swaps(settings: Settings, count: int = 1, *, timeout: float = 120) -> list[PeriodSwapped]:
    """The tenant's ``billing-periods`` swaps, once there are at least ``count``."""
    tenant = settings.app.tenant

    def swaps(rs: list[Any]) -> list[PeriodSwapped]:
        return [s for s in (decode_record(PeriodSwapped, r.value) for r in rs) if s.tenant == tenant]

    return swaps(
        await read_topic(
            settings.kafka.bootstrap_servers,
            "billing-periods",
            until=lambda rs: len(swaps(rs)) >= count,
            timeout=timeout,
        )
    )


async def landed(settings: Settings, source_id: str) -> tuple[int, Decimal]:
    """(FOCUS rows, sum of BilledCost) of ``source_id`` in the tenant's ClickHouse table."""
    sql = (
        f"SELECT count(), sum(BilledCost) FROM {database_for(settings.app.tenant)}.focus WHERE x_Source = '{source_id}'"
    )
    n, cost = await connect(settings.clickhouse_dsn).run(lambda c: c.query(sql).result_rows[0])
    return int(n), Decimal(cost or 0)


async def ledger_entry(dsn: str, tenant: str, file_id: str, state: str = "reconciled", *, timeout: float = 10) -> Any:
    """The file's ledger row once it reaches ``state`` (the loader moves it after publishing the
    receipt), else its row as it is after ``timeout`` seconds (None if there is none)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        entry = await asyncio.to_thread(get_file, dsn, tenant, file_id)
        if (entry is not None and entry.state == state) or asyncio.get_running_loop().time() > deadline:
            return entry
        await asyncio.sleep(0.1)
