"""A billing month restated three times: only the last version is visible, never a mix.

AWS CUR delivers each version of a month as new data files plus a manifest naming them.
The source is registered with layout ``manifest``: data-file events alone load nothing;
each manifest registers a period version whose files land in ``focus_pending``, and the
version is swapped into the fact table and every rollup when all its files reconcile.
A poller reads the month's totals from the fact table and the month rollup the whole
time: every reading must equal one complete version (or the empty start).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.support.cur import CurFile, cur_file, cur_manifest, sample_rows
from tests.support.kafka import read_topic
from tests.support.settings import local_settings

from cloudops.app import create_app
from cloudops.embedded.broker import EmbeddedBroker
from cloudops.embedded.objectstore import EmbeddedObjectStore, provision_bucket_queue
from cloudops.schemas.events import PeriodSwapped
from cloudops.settings import Settings
from cloudops.sinks.clickhouse import connect, database_for
from cloudops.sinks.postgres import migrate
from cloudops.sinks.postgres.ledger import add_source, list_files
from cloudops.sinks.postgres.periods import list_versions
from cloudops.sources.objects import s3_client
from cloudops.topics.admin import ensure_topics
from cloudops.topics.codec import decode_record

pytestmark = pytest.mark.integration
SOURCE = "cur-main"
PERIOD_DIR = "cur/report/20231101-20231201"


@pytest.fixture
async def running(
    request: pytest.FixtureRequest,
    broker: EmbeddedBroker,
    object_store: EmbeddedObjectStore,
    chdb_dsn: str,
    postgres_db: str,
    tmp_path: Path,
    unique: str,
) -> AsyncIterator[tuple[Settings, Any, str]]:
    """The whole pipeline for one source; ``request.param`` is its (layout, prefix)."""
    layout, prefix = request.param
    tenant = f"r{unique}"
    bucket = f"cur-{unique}"
    migrate(postgres_db, tenant)
    add_source(postgres_db, tenant, id=SOURCE, provider="aws", bucket=bucket, prefix=prefix, layout=layout)
    settings = local_settings(
        "restate",
        unique,
        tmp_path,
        broker,
        chdb_dsn,
        tenant=tenant,
        postgres_dsn=postgres_db,
        aws=object_store.settings(sqs_wait_seconds=1),
        load={"sweep_interval_s": 1.0},
    )
    queue_url = await provision_bucket_queue(settings.aws, bucket, f"events-{unique}")
    settings = settings.with_overrides(aws={"sqs_queue_url": queue_url})
    await ensure_topics(settings.kafka)
    app, rt = create_app(settings)
    await app.start()
    try:
        yield settings, rt, bucket
    finally:
        await app.stop()


class _Poller:
    """Reads the month's totals from the fact table and the month rollup every 20 ms."""

    def __init__(self, settings: Settings) -> None:
        self.db = database_for(settings.app.tenant)
        self.ch = connect(settings.clickhouse_dsn)
        self.readings: list[tuple[str, int, Decimal]] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _poll(self) -> None:
        fact = (
            f"SELECT count(), sum(BilledCost) FROM {self.db}.focus WHERE x_Source = '{SOURCE}' "
            "AND BillingPeriodStart >= '2023-11-01' AND BillingPeriodStart < '2023-12-01'"
        )
        rollup = f"SELECT sum(Rows), sum(BilledCost) FROM {self.db}.rollup_month WHERE x_Source = '{SOURCE}'"
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # the tables appear with the first load
                for name, sql in (("focus", fact), ("rollup_month", rollup)):
                    n, cost = await self.ch.run(lambda c, sql=sql: c.query(sql).result_rows[0])
                    self.readings.append((name, int(n or 0), Decimal(cost or 0)))
            await asyncio.sleep(0.02)

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    def assert_whole_versions(self, expected: set[tuple[int, Decimal]], last: tuple[int, Decimal]) -> None:
        assert self.readings, "the poller read nothing"
        mixed = [r for r in self.readings if (r[1], r[2]) not in expected]
        assert not mixed, f"queries saw a mix of versions: {mixed[:5]}"
        assert (self.readings[-1][1], self.readings[-1][2]) == last


async def _assert_only(settings: Settings, want: tuple[int, Decimal]) -> None:
    """Only this version is visible, in the fact table and every rollup; staging and pending are empty."""
    db = database_for(settings.app.tenant)
    ch = connect(settings.clickhouse_dsn)
    for sql in (
        f"SELECT count(), sum(BilledCost) FROM {db}.focus WHERE x_Source = '{SOURCE}'",
        f"SELECT sum(Rows), sum(BilledCost) FROM {db}.rollup_day WHERE x_Source = '{SOURCE}'",
        f"SELECT sum(Rows), sum(BilledCost) FROM {db}.rollup_month WHERE x_Source = '{SOURCE}'",
    ):
        n, cost = await ch.run(lambda c, sql=sql: c.query(sql).result_rows[0])
        assert (int(n), Decimal(cost)) == want, sql
    for table in ("focus_staging", "focus_pending", "rollup_day_staging"):
        assert await ch.run(lambda c, t=table: c.query(f"SELECT count() FROM {db}.{t}").result_rows[0][0]) == 0


def _swaps(tenant: str, recs: list[Any]) -> list[PeriodSwapped]:
    return [s for s in (decode_record(PeriodSwapped, r.value) for r in recs) if s.tenant == tenant]


def _versions() -> list[tuple[str, list[CurFile]]]:
    header, rows = sample_rows()
    return [
        # v1: month to date, two files.
        (
            "20231203T010203Z-v1",
            [cur_file("report-1.csv", header, rows[:300]), cur_file("report-2.csv", header, rows[300:500])],
        ),
        # v2: more days, amounts restated (x1.5), three files.
        (
            "20231215T010203Z-v2",
            [
                cur_file("report-1.csv", header, rows[:400], scale=Decimal("1.5")),
                cur_file("report-2.csv", header, rows[400:900], scale=Decimal("1.5")),
                cur_file("report-3.csv", header, rows[900:1000], scale=Decimal("1.5")),
            ],
        ),
        # v3: the closed month, one file, every row.
        ("20231203T010203Z-v3-final", [cur_file("report-1.csv", header, rows)]),
    ]


async def _deliver(settings: Settings, bucket: str, assembly: str, files: list[CurFile]) -> None:
    keys = [f"{PERIOD_DIR}/{assembly}/{f.name}" for f in files]
    async with s3_client(settings.aws) as s3:
        for key, f in zip(keys, files, strict=True):
            await s3.put_object(Bucket=bucket, Key=key, Body=f.body)
        manifest = cur_manifest(bucket=bucket, assembly=assembly, keys=keys)
        # Like AWS: one copy in the assembly folder, one at the top of the period folder
        # (overwritten by the next delivery). Both name the same version.
        await s3.put_object(Bucket=bucket, Key=f"{PERIOD_DIR}/{assembly}/report-Manifest.json", Body=manifest)
        await s3.put_object(Bucket=bucket, Key=f"{PERIOD_DIR}/report-Manifest.json", Body=manifest)


@pytest.mark.parametrize("running", [("manifest", "cur/")], indirect=True)
async def test_month_restated_three_times_only_last_visible_never_mixed(
    running: tuple[Settings, Any, str],
) -> None:
    settings, rt, bucket = running
    tenant = settings.app.tenant
    versions = _versions()
    expected = {(sum(f.rows for f in files), sum((f.cost for f in files), Decimal(0))) for _, files in versions}
    expected.add((0, Decimal(0)))
    poller = _Poller(settings)
    poller.start()
    bootstrap = settings.kafka.bootstrap_servers
    try:
        # v1, then wait until it is live.
        await _deliver(settings, bucket, *versions[0])
        got = _swaps(
            tenant,
            await read_topic(bootstrap, "billing-periods", until=lambda rs: len(_swaps(tenant, rs)) >= 1, timeout=90),
        )
        assert got[0].period_version == versions[0][0]
        # v2 and v3 back to back: v3 is delivered last, so it must win whatever the timing.
        await _deliver(settings, bucket, *versions[1])
        await _deliver(settings, bucket, *versions[2])

        def final(rs: list[Any]) -> bool:
            return any(s.period_version == versions[2][0] for s in _swaps(tenant, rs))

        await read_topic(bootstrap, "billing-periods", until=final, timeout=120)
        await asyncio.sleep(1.5)  # a late v2 swap (if any) would show up here and fail below
    finally:
        await poller.stop()

    last_files = versions[2][1]
    want = (sum(f.rows for f in last_files), sum((f.cost for f in last_files), Decimal(0)))
    assert want == (1281, Decimal("1.6823086974"))
    await _assert_only(settings, want)
    # Every reading during the restatements was one whole version (or nothing yet).
    poller.assert_whole_versions(expected, want)

    # The control plane agrees: exactly one live version, the last delivered; others superseded.
    dsn = settings.postgres.dsn or ""
    states = {v.version: v.state for v in list_versions(dsn, tenant, source_id=SOURCE, period=date(2023, 11, 1))}
    assert states == {
        versions[0][0]: "superseded",
        versions[1][0]: "superseded",
        versions[2][0]: "live",
    }
    live = [v for v in list_versions(dsn, tenant, source_id=SOURCE) if v.state == "live"]
    assert live[0].rows_landed == 1281
    assert live[0].landed_totals == {"USD": "1.6823086974"}
    # Data-file events alone loaded nothing; the manifests announced the files.
    assert rt.counters.get("parse.unlisted", 0) >= 6
    files = list_files(dsn, tenant, limit=1000)
    v3_files = [f for f in files if f.period_version == versions[2][0]]
    assert [(f.state, f.rows_in, f.rows_landed) for f in v3_files] == [("reconciled", 1281, 1281)]


@pytest.mark.parametrize("running", [("snapshot", "exports/")], indirect=True)
async def test_month_to_date_snapshots_overwritten_and_rerun_replace_the_month(
    running: tuple[Settings, Any, str],
) -> None:
    """Azure-style month-to-date exports without a manifest: each copy is the whole month so far.

    Copy 1 is written, copy 2 overwrites the same object (new ETag), copy 3 is a new run's
    object in the same period folder. Appending them would count the month three times; the
    ``snapshot`` layout keeps exactly the newest copy, swapped in whole.
    """
    settings, rt, bucket = running
    tenant = settings.app.tenant
    header, rows = sample_rows()
    folder = "exports/daily/costs/20231101-20231130"
    copies = [
        (f"{folder}/costs_run-a.csv", cur_file("a1.csv", header, rows[:300])),
        (f"{folder}/costs_run-a.csv", cur_file("a2.csv", header, rows[:900], scale=Decimal("1.5"))),
        (f"{folder}/costs_run-b.csv", cur_file("b.csv", header, rows)),
    ]
    expected = {(f.rows, f.cost) for _, f in copies} | {(0, Decimal(0))}
    poller = _Poller(settings)
    poller.start()
    bootstrap = settings.kafka.bootstrap_servers
    try:
        async with s3_client(settings.aws) as s3:
            for n, (key, f) in enumerate(copies, 1):
                await s3.put_object(Bucket=bucket, Key=key, Body=f.body)
                await read_topic(
                    bootstrap, "billing-periods", until=lambda rs, n=n: len(_swaps(tenant, rs)) >= n, timeout=120
                )
                await _assert_only(settings, (f.rows, f.cost))
        await asyncio.sleep(1.5)  # nothing else swaps in later
    finally:
        await poller.stop()
    want = (copies[2][1].rows, copies[2][1].cost)
    assert want == (1281, Decimal("1.6823086974"))
    await _assert_only(settings, want)
    poller.assert_whole_versions(expected, want)
    dsn = settings.postgres.dsn or ""
    versions = list_versions(dsn, tenant, source_id=SOURCE, period=date(2023, 11, 1))
    assert sorted(v.state for v in versions) == ["live", "superseded", "superseded"]
    live = next(v for v in versions if v.state == "live")
    assert (live.manifest_key, live.files, live.rows_landed) == (copies[2][0], [copies[2][0]], 1281)
    assert rt.counters.get("parse.snapshots", 0) == 3
