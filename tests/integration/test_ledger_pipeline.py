"""With a control plane, the file ledger makes a file seen by both triggers parse once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.kafka import read_topic
from tests.support.settings import local_settings

from cloudops.app import create_app
from cloudops.embedded.broker import EmbeddedBroker
from cloudops.embedded.objectstore import EmbeddedObjectStore, provision_bucket_queue
from cloudops.schemas.events import BillingFile, BillingLoaded, file_id_for
from cloudops.settings import Settings
from cloudops.sinks.postgres import migrate
from cloudops.sinks.postgres.ledger import add_source, get_file
from cloudops.sources.objects import s3_client
from cloudops.topics.admin import ensure_topics
from cloudops.topics.codec import decode_record, encode_record

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).parents[1] / "fixtures" / "aws" / "cur_sample.csv"


@pytest.fixture
async def running(
    broker: EmbeddedBroker,
    object_store: EmbeddedObjectStore,
    chdb_dsn: str,
    postgres_db: str,
    tmp_path: Path,
    unique: str,
) -> AsyncIterator[tuple[Settings, Any]]:
    tenant = f"t{unique}"
    bucket = f"bills-{unique}"
    migrate(postgres_db, tenant)
    add_source(postgres_db, tenant, id="aws-main", provider="aws", bucket=bucket, prefix="cur/")
    settings = local_settings(
        "ledger",
        unique,
        tmp_path,
        broker,
        chdb_dsn,
        tenant=tenant,
        postgres_dsn=postgres_db,
        aws=object_store.settings(sqs_wait_seconds=1),
        ingest={"schedule_tick_s": 0.5},
    )
    queue_url = await provision_bucket_queue(settings.aws, bucket, f"events-{unique}")
    settings = settings.with_overrides(aws={"sqs_queue_url": queue_url})
    await ensure_topics(settings.kafka)
    app, rt = create_app(settings)
    await app.start()
    try:
        yield settings, rt
    finally:
        await app.stop()


async def test_same_file_via_both_triggers_and_redelivery_parses_once(running: tuple[Settings, Any]) -> None:
    settings, rt = running
    tenant = settings.app.tenant
    bucket = settings.aws.sqs_queue_url.rsplit("events-", 1)[1]  # type: ignore[union-attr]
    bucket = f"bills-{bucket}"
    key = "cur/2023-11/cur.csv"
    async with s3_client(settings.aws) as s3:
        put = await s3.put_object(Bucket=bucket, Key=key, Body=SAMPLE.read_bytes())
    etag = put["ETag"].strip('"')
    file_id = file_id_for(tenant, f"s3://{bucket}/{key}", etag, None)

    def receipts(recs: list) -> list[BillingLoaded]:
        return [r for r in (decode_record(BillingLoaded, x.value) for x in recs) if r.file_id == file_id]

    bootstrap = settings.kafka.bootstrap_servers
    first = receipts(await read_topic(bootstrap, "billing-loaded", until=lambda rs: len(receipts(rs)) >= 1))
    assert first[0].reconciled

    # The scheduled listing (here: a manual announcement) sees the same object version,
    # and SQS redelivers the notification: both are skipped by the ledger.
    again = BillingFile(
        tenant=tenant, url=f"s3://{bucket}/{key}", bucket=bucket, key=key, etag=etag, trigger="schedule"
    )
    assert again.file_id == file_id
    await rt.publish("billing-files", key=file_id, value=encode_record(again))
    body = json.dumps(
        {
            "Records": [
                {
                    "eventName": "ObjectCreated:Put",
                    "eventTime": "2026-11-27T23:46:26.425Z",
                    "s3": {"bucket": {"name": bucket}, "object": {"key": key, "eTag": etag}},
                }
            ]
        }
    )
    async with s3_client(settings.aws, "sqs") as sqs:
        await sqs.send_message(QueueUrl=settings.aws.sqs_queue_url, MessageBody=body)
    for _ in range(300):
        if rt.counters.get("parse.skipped", 0) >= 2:
            break
        await asyncio.sleep(0.1)
    assert rt.counters.get("parse.skipped", 0) == 2
    await asyncio.sleep(1.0)
    with pytest.raises(TimeoutError):  # no second receipt: the file was parsed and loaded once
        await read_topic(bootstrap, "billing-loaded", until=lambda rs: len(receipts(rs)) >= 2, timeout=3)

    entry = get_file(settings.postgres.dsn or "", tenant, file_id)
    assert entry is not None
    assert entry.state == "reconciled"
    assert entry.attempts == 1
    assert sorted(entry.triggers) == ["s3-event", "schedule"]
    assert (entry.rows_in, entry.rows_landed, entry.rows_rejected) == (1281, 1281, 0)
    assert entry.landed_totals == {"USD": "1.6823086974"}


async def test_scheduled_listing_announces_new_and_changed_versions_once(running: tuple[Settings, Any]) -> None:
    from cloudops.ingest.schedule import scan_due_sources

    settings, rt = running
    tenant = settings.app.tenant
    dsn = settings.postgres.dsn or ""
    bucket = f"listed-{tenant}"
    async with s3_client(settings.aws) as s3:
        await s3.create_bucket(Bucket=bucket)  # no event notifications: only the schedule finds files here
        put = await s3.put_object(Bucket=bucket, Key="exports/cur.csv", Body=SAMPLE.read_bytes())
    add_source(dsn, tenant, id="aws-listed", provider="aws", bucket=bucket, prefix="exports/", schedule_s=60)
    file_id = file_id_for(tenant, f"s3://{bucket}/exports/cur.csv", put["ETag"].strip('"'), None)

    def receipts(recs: list) -> list[BillingLoaded]:
        return [r for r in (decode_record(BillingLoaded, x.value) for x in recs) if r.file_id == file_id]

    bootstrap = settings.kafka.bootstrap_servers
    [receipt] = receipts(await read_topic(bootstrap, "billing-loaded", until=lambda rs: len(receipts(rs)) >= 1))
    assert receipt.reconciled
    for _ in range(100):  # the loader moves the ledger row after publishing the receipt
        entry = get_file(dsn, tenant, file_id)
        if entry is not None and entry.state == "reconciled":
            break
        await asyncio.sleep(0.1)
    assert entry is not None
    assert (entry.state, entry.triggers, entry.attempts) == ("reconciled", ["schedule"], 1)

    # Listing again announces nothing new; a rewritten object (new ETag) is announced once.
    assert await scan_due_sources(rt, {}) == 0
    async with s3_client(settings.aws) as s3:
        await s3.put_object(Bucket=bucket, Key="exports/cur.csv", Body=SAMPLE.read_bytes() + b"\n")
    assert await scan_due_sources(rt, {}) == 1
