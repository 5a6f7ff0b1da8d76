"""The GCP billing export read from BigQuery, one invoice month at a time (a fake of the BigQuery
REST API driven by the real ``google-cloud-bigquery`` SDK, rows through Arrow).

The month is read three times while GCP adds rows and then corrections to it. The source has
layout ``snapshot``: each read is one version of the billing period, swapped in whole. A poller
reads the month's totals from ClickHouse the whole time: every reading equals one complete read
(or the empty start), never a mix, and the last read is what stays visible.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from tests.support.bigquery_fake import FakeBigQuery
from tests.support.kafka import read_topic
from tests.support.settings import local_settings

from cloudops.agents.schedule import scan_due_sources
from cloudops.app import create_app
from cloudops.embedded.broker import EmbeddedBroker
from cloudops.schemas.events import PeriodSwapped
from cloudops.settings import Settings
from cloudops.sinks.clickhouse import connect, database_for
from cloudops.sinks.postgres import migrate
from cloudops.sinks.postgres.ledger import add_source
from cloudops.sinks.postgres.sources import SourceRecord, get_source, upsert_source
from cloudops.topics.admin import ensure_topics
from cloudops.topics.codec import decode_record

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).parents[1] / "fixtures" / "gcp" / "detailed_parquet.parquet"
SAMPLE_USD, SAMPLE_FOCUS_ROWS = Decimal("30.514716"), 22  # tests/fixtures/gcp/detailed_parquet.expected.json
TABLE = "billing-admin.billing_export.gcp_billing_export_resource_v1_0123AB_456CDE_789EF0"


@pytest.fixture(scope="module")
def bq() -> Iterator[FakeBigQuery]:
    with FakeBigQuery() as server:
        yield server


@pytest.fixture
async def running(
    bq: FakeBigQuery, broker: EmbeddedBroker, chdb_dsn: str, postgres_db: str, tmp_path: Path, unique: str
) -> AsyncIterator[tuple[Settings, Any, str]]:
    tenant = f"b{unique}"
    table = f"{TABLE}_{unique}"
    migrate(postgres_db, tenant)
    add_source(postgres_db, tenant, id="gcp-bq", provider="gcp", bucket=table, layout="snapshot", schedule_s=60)
    current = get_source(postgres_db, tenant, "gcp-bq")
    assert current is not None
    options = {"project": "billing-admin", "location": "US"}
    upsert_source(
        postgres_db,
        tenant,
        SourceRecord(**{**current.as_dict(), "kind": "bigquery", "endpoint_url": bq.endpoint, "options": options}),
    )
    settings = local_settings(
        "bq",
        unique,
        tmp_path,
        broker,
        chdb_dsn,
        tenant=tenant,
        postgres_dsn=postgres_db,
        ingest={"schedule_tick_s": 0.5},
        load={"sweep_interval_s": 1.0},
    )
    await ensure_topics(settings.kafka)
    app, rt = create_app(settings)
    await app.start()
    try:
        yield settings, rt, table
    finally:
        await app.stop()


def _batch(month: str, export_time: datetime, *, sign: int = 1) -> list[dict[str, Any]]:
    """The sample's rows as one export batch of ``month``; ``sign=-1``: their corrections (negated)."""
    rows = pq.read_table(SAMPLE).to_pylist()
    for r in rows:
        r["invoice"] = {**r["invoice"], "month": month}
        r["export_time"] = export_time
        r["cost"] = sign * r["cost"]
        r["credits"] = [{**c, "amount": sign * c["amount"]} for c in r["credits"] or []]
    return rows


class _Poller:
    def __init__(self, settings: Settings) -> None:
        self.sql = (
            f"SELECT count(), sum(BilledCost) FROM {database_for(settings.app.tenant)}.focus WHERE x_Source = 'gcp-bq'"
        )
        self.ch = connect(settings.clickhouse_dsn)
        self.readings: list[tuple[int, Decimal]] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _poll(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # the table appears with the first load
                n, cost = await self.ch.run(lambda c: c.query(self.sql).result_rows[0])
                self.readings.append((int(n or 0), Decimal(cost or 0)))
            await asyncio.sleep(0.02)

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task


async def test_open_month_read_three_times_only_last_read_visible_never_mixed(
    running: tuple[Settings, Any, str], bq: FakeBigQuery
) -> None:
    settings, rt, table = running
    tenant = settings.app.tenant
    month = datetime.now(UTC).strftime("%Y%m")
    t0 = datetime.now(UTC).replace(microsecond=123456) - timedelta(days=2)
    bq.create_table(table, pq.read_schema(SAMPLE))
    bq.append(table, _batch(month, t0))
    reads = [
        (SAMPLE_FOCUS_ROWS, SAMPLE_USD),  # read 1: the first export batch
        (2 * SAMPLE_FOCUS_ROWS, 2 * SAMPLE_USD),  # read 2: late rows added (the batch again)
        (3 * SAMPLE_FOCUS_ROWS, SAMPLE_USD),  # read 3: corrections (the late rows negated)
    ]
    poller = _Poller(settings)
    poller.start()

    def swaps(rs: list[Any]) -> list[PeriodSwapped]:
        return [s for s in (decode_record(PeriodSwapped, r.value) for r in rs) if s.tenant == tenant]

    bootstrap = settings.kafka.bootstrap_servers
    try:
        # Read 1 comes from the schedule timer; reads 2 and 3 from listing again after each export batch.
        got = await read_topic(bootstrap, "billing-periods", until=lambda rs: len(swaps(rs)) >= 1, timeout=120)
        assert swaps(got)[0].rows_landed == reads[0][0]
        bq.append(table, _batch(month, t0 + timedelta(hours=6)))
        assert await scan_due_sources(rt, {}) == 1
        await read_topic(bootstrap, "billing-periods", until=lambda rs: len(swaps(rs)) >= 2, timeout=120)
        bq.append(table, _batch(month, t0 + timedelta(hours=12), sign=-1))
        assert await scan_due_sources(rt, {}) == 1
        got = await read_topic(bootstrap, "billing-periods", until=lambda rs: len(swaps(rs)) >= 3, timeout=120)
    finally:
        await poller.stop()
    done = swaps(got)
    assert [(s.rows_landed, s.landed_totals) for s in done] == [(n, {"USD": usd}) for n, usd in reads]
    assert [s.replaced_version for s in done][1:] == [s.period_version for s in done][:2]
    assert str(done[-1].period) == f"{month[:4]}-{month[4:]}-01"
    assert poller.readings
    mixed = [r for r in poller.readings if r not in {(0, Decimal(0)), *reads}]
    assert not mixed, f"queries saw a mix of reads: {mixed[:5]}"
    n, cost = await poller.ch.run(lambda c: c.query(poller.sql).result_rows[0])
    assert (int(n), Decimal(cost)) == reads[-1]
    assert await scan_due_sources(rt, {}) == 0  # nothing new in the month: no fourth read
