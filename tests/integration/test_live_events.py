"""Agents publish live events: a file's ledger transitions reach a subscriber of the tenant's stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from tests.support.settings import local_settings

from cloudops.app import create_app
from cloudops.embedded.broker import EmbeddedBroker
from cloudops.embedded.objectstore import EmbeddedObjectStore, provision_bucket_queue
from cloudops.schemas.events import file_id_for
from cloudops.service import live
from cloudops.settings import Settings
from cloudops.sinks.postgres import migrate
from cloudops.sinks.postgres.ledger import add_source, get_file
from cloudops.sinks.postgres.periods import list_versions
from cloudops.sinks.redis.events import LiveEvent, read_events, replay_events
from cloudops.sources.objects import s3_client
from cloudops.topics.admin import ensure_topics

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).parents[1] / "fixtures" / "aws" / "cur_sample.csv"


@pytest.fixture
async def running(
    request: pytest.FixtureRequest,
    broker: EmbeddedBroker,
    object_store: EmbeddedObjectStore,
    chdb_dsn: str,
    postgres_db: str,
    redis_url: str,
    tmp_path: Path,
    unique: str,
) -> AsyncIterator[tuple[Settings, str]]:
    tenant = f"t{unique}"
    bucket = f"bills-{unique}"
    migrate(postgres_db, tenant)
    layout, prefix = getattr(request, "param", ("files", "cur/"))
    add_source(postgres_db, tenant, id="aws-main", provider="aws", bucket=bucket, prefix=prefix, layout=layout)
    settings = local_settings(
        "live",
        unique,
        tmp_path,
        broker,
        chdb_dsn,
        tenant=tenant,
        postgres_dsn=postgres_db,
        aws=object_store.settings(sqs_wait_seconds=1),
        redis={"url": redis_url},
    )
    queue_url = await provision_bucket_queue(settings.aws, bucket, f"events-{unique}")
    settings = settings.with_overrides(aws={"sqs_queue_url": queue_url})
    await ensure_topics(settings.kafka)
    app, _rt = create_app(settings)
    await app.start()
    try:
        yield settings, bucket
    finally:
        await app.stop()


async def test_a_subscriber_sees_a_file_go_through_parse_and_load_to_reconciled(
    running: tuple[Settings, str],
) -> None:
    settings, bucket = running
    tenant = settings.app.tenant
    assert settings.redis.url
    client = aioredis.Redis.from_url(settings.redis.url)
    seen: list[LiveEvent] = []

    async def subscribe(url: str) -> None:
        position = "$"
        while True:
            for ev in await read_events(client, {tenant: position}, block_ms=500):
                position = ev.id
                seen.append(ev)
                if ev.kind == "file" and ev.data.get("url") == url and ev.data["state"] == "reconciled":
                    return

    try:
        key = "cur/2023-11/cur.csv"
        reader = asyncio.create_task(subscribe(f"s3://{bucket}/{key}"))
        await asyncio.sleep(0.3)  # the reader is blocked on XREAD from "now"
        async with s3_client(settings.aws) as s3:  # the bucket notifies the agents' queue
            put = await s3.put_object(Bucket=bucket, Key=key, Body=SAMPLE.read_bytes())
        file_id = file_id_for(tenant, f"s3://{bucket}/{key}", put["ETag"].strip('"'), None)
        await asyncio.wait_for(reader, timeout=120)

        mine = [ev for ev in seen if ev.kind == "file" and ev.data["file_id"] == file_id]
        assert [ev.data["state"] for ev in mine] == ["parsing", "parsed", "loaded", "reconciled"]
        assert [ev.id for ev in mine] == sorted(ev.id for ev in mine)  # stream order = transition order
        parsed, loaded, done = mine[1].data, mine[2].data, mine[3].data
        assert (parsed["rows_in"], parsed["rows_rejected"], parsed["rows_landed"]) == (1281, 0, None)
        assert loaded["rows_landed"] == 1281
        assert done["source_id"] == "aws-main"
        assert done["url"] == f"s3://{bucket}/{key}"
        assert done["landed_totals"] == {"USD": "1.6823086974"}  # money as a string, never a float
        # The event mirrors the ledger row the REST API serves.
        entry = get_file(settings.postgres.dsn or "", tenant, file_id)
        assert entry is not None
        assert done == live.file_data(entry)
        # The receipt (``loaded`` kind, from the loader's data-version script) is in the same stream.
        assert any(ev.kind == "loaded" for ev in seen)
        # A client that reconnects after the first transition gets the rest from the replay.
        replayed = await replay_events(client, tenant, mine[0].id)
        assert [e.id for e in replayed if e.kind == "file" and e.data["file_id"] == file_id] == [e.id for e in mine[1:]]
    finally:
        await client.aclose()


@pytest.mark.parametrize("running", [("snapshot", "exports/")], indirect=True)
async def test_a_period_swap_is_published(running: tuple[Settings, str]) -> None:
    """A snapshot-layout source: the month's copy is swapped in whole, and subscribers hear of it."""
    settings, bucket = running
    tenant = settings.app.tenant
    assert settings.redis.url
    client = aioredis.Redis.from_url(settings.redis.url)
    key = "exports/daily/costs/20231101-20231130/costs_run-a.csv"

    async def period_event() -> LiveEvent:
        position = "$"
        while True:
            for ev in await read_events(client, {tenant: position}, block_ms=500):
                position = ev.id
                if ev.kind == "period":
                    return ev

    try:
        reader = asyncio.create_task(period_event())
        await asyncio.sleep(0.3)
        async with s3_client(settings.aws) as s3:
            await s3.put_object(Bucket=bucket, Key=key, Body=SAMPLE.read_bytes())
        ev = await asyncio.wait_for(reader, timeout=120)
    finally:
        await client.aclose()
    data = ev.data
    assert (data["tenant"], data["source_id"], data["period"]) == (tenant, "aws-main", "2023-11-01")
    assert data["rows_landed"] == 1281
    assert data["landed_totals"] == {"USD": "1.6823086974"}
    assert data["replaced_version"] is None
    (live,) = [v for v in list_versions(settings.postgres.dsn or "", tenant, source_id="aws-main") if v.state == "live"]
    assert data["period_version"] == live.version


async def test_publishing_is_best_effort(postgres_db: str, redis_url: str, unique: str, tmp_path: Path) -> None:
    tenant = f"t{unique}"
    migrate(postgres_db, tenant)
    dead = Settings(
        app={"tenant": tenant, "work_dir": tmp_path},
        postgres={"dsn": postgres_db},
        redis={"url": "redis://127.0.0.1:1/0"},
    )
    # Redis unreachable: logged, None, no exception (the file's processing goes on).
    assert await live.publish_period(dead, tenant, {"source_id": "aws-main"}) is None
    # No ledger row for the file: nothing to publish.
    up = dead.with_overrides(redis={"url": redis_url})
    assert await live.publish_file(up, tenant, "no-such-file") is None
    # Not configured: nothing.
    assert await live.publish_file(Settings(app={"tenant": tenant, "work_dir": tmp_path}), tenant, "x") is None
    event_id = await live.publish_period(up, tenant, {"source_id": "aws-main", "rows_landed": 3})
    assert event_id is not None
    client = aioredis.Redis.from_url(redis_url)
    try:
        (ev,) = [e for e in await replay_events(client, tenant, "0-0") if e.id == event_id]
    finally:
        await client.aclose()
    assert (ev.kind, ev.data) == ("period", {"source_id": "aws-main", "rows_landed": 3})
