"""Dead letters can be listed, shown and replayed; transient failures go round the retry topic.

* A file announced before its object exists is bad data: it is dead-lettered with the
  original bytes. Once the object is there, `cloudops dlq replay` sends the very same
  record back and the file lands exactly once.
* With the object store down, parsing fails transiently: after the in-place attempts the
  message waits on `billing-files.retry`, and lands once the store is back.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.support.cur import SAMPLE
from tests.support.kafka import read_topic

from cloudops.app import create_app
from cloudops.embedded.broker import EmbeddedBroker
from cloudops.embedded.objectstore import EmbeddedObjectStore
from cloudops.schemas.events import BillingFile, BillingLoaded, DeadLetter
from cloudops.settings import Settings
from cloudops.sources.objects import s3_client
from cloudops.topics.admin import ensure_topics
from cloudops.topics.codec import decode_record, encode_record

pytestmark = pytest.mark.integration
TOTAL = Decimal("1.6823086974")


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDOPS_")}
    env["CLOUDOPS_KAFKA__BOOTSTRAP_SERVERS"] = settings.kafka.bootstrap_servers
    return subprocess.run(
        [sys.executable, "-m", "cloudops", *args], env=env, capture_output=True, text=True, timeout=120
    )


async def _start(settings: Settings) -> Any:
    await ensure_topics(settings.kafka)
    app, rt = create_app(settings)
    await app.start()
    return app, rt


def _receipts_for(file_id: str):  # type: ignore[no-untyped-def]
    def mine(recs: list[Any]) -> list[BillingLoaded]:
        return [r for r in (decode_record(BillingLoaded, x.value) for x in recs) if r.file_id == file_id]

    return mine


@pytest.fixture
def settings(
    broker: EmbeddedBroker, object_store: EmbeddedObjectStore, chdb_dsn: str, tmp_path: Path, unique: str
) -> Settings:
    return Settings(
        app={"id": f"cloudops-dlq-{unique}", "tenant": f"d{unique}", "work_dir": tmp_path / "work"},
        kafka={"bootstrap_servers": broker.bootstrap_servers, "session_timeout_s": 10.0},
        clickhouse={"dsn": chdb_dsn},
        aws=object_store.settings(),
        ingest={"backoff_base_s": 0.05, "backoff_max_s": 0.2, "max_attempts": 2, "retry_delay_s": 2.0},
    )


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[tuple[Settings, Any]]:
    app, rt = await _start(settings)
    try:
        yield settings, rt
    finally:
        await app.stop()


async def test_dead_letter_listed_shown_and_replayed_once_fixed(running: tuple[Settings, Any], unique: str) -> None:
    settings, rt = running
    bucket = f"late-{unique}"
    key = "cur/2023-11/cur.csv"
    async with s3_client(settings.aws) as s3:
        await s3.create_bucket(Bucket=bucket)
    event = BillingFile(
        tenant=settings.app.tenant, url=f"s3://{bucket}/{key}", bucket=bucket, key=key, trigger="manual"
    )
    await rt.publish("billing-files", key=event.file_id, value=encode_record(event))

    def letters(recs: list[Any]) -> list[DeadLetter]:
        return [d for d in (decode_record(DeadLetter, r.value) for r in recs) if d.file_id == event.file_id]

    bootstrap = settings.kafka.bootstrap_servers
    [dead] = letters(await read_topic(bootstrap, "billing-files.dlq", until=lambda rs: len(letters(rs)) >= 1))
    assert dead.error_kind == "bad_data"
    assert "object not found" in dead.reason

    listed = _cli(settings, "dlq", "list", "--topic", "billing-files.dlq", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    [row] = [r for r in json.loads(listed.stdout) if r["file"] == event.url]
    assert (row["kind"], row["replayable"]) == ("bad_data", True)
    shown = _cli(settings, "dlq", "show", row["position"])
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["value"]["url"] == event.url  # the original record, decoded
    assert doc["source_topic"] == "billing-files"

    # Fix the cause (the object arrives), then replay the dead letter byte for byte.
    async with s3_client(settings.aws) as s3:
        await s3.put_object(Bucket=bucket, Key=key, Body=SAMPLE.read_bytes())
    replayed = _cli(settings, "dlq", "replay", row["position"])
    assert replayed.returncode == 0, replayed.stderr
    assert "1 replayed" in replayed.stdout
    mine = _receipts_for(event.file_id)
    [receipt] = mine(await read_topic(bootstrap, "billing-loaded", until=lambda rs: len(mine(rs)) >= 1))
    assert receipt.reconciled
    assert (receipt.rows_landed, receipt.landed_totals) == (1281, {"USD": TOTAL})

    bad = _cli(settings, "dlq", "show", "billing-files.dlq:0:999999")
    assert bad.returncode == 2
    assert "no dead letter" in bad.stderr


async def test_object_store_down_goes_round_the_retry_topic_then_lands(settings: Settings, unique: str) -> None:
    store = EmbeddedObjectStore().start()
    settings = settings.with_overrides(aws=store.settings())
    app, rt = await _start(settings)
    try:
        bucket = f"flaky-{unique}"
        key = "cur/cur.csv"
        store.stop()  # the store goes away before the file is read
        event = BillingFile(
            tenant=settings.app.tenant, url=f"s3://{bucket}/{key}", bucket=bucket, key=key, trigger="manual"
        )
        await rt.publish("billing-files", key=event.file_id, value=encode_record(event))
        for _ in range(600):  # the in-place attempts against a dead endpoint first (slow on a busy machine)
            if rt.counters.get("parse.retried", 0) >= 1:
                break
            await asyncio.sleep(0.1)
        assert rt.counters.get("parse.retried", 0) >= 1  # parked on billing-files.retry
        # The store comes back (moto restarts empty: the object is written again).
        store = EmbeddedObjectStore(port=store.port).start()
        async with s3_client(settings.aws) as s3:
            await s3.create_bucket(Bucket=bucket)
            await s3.put_object(Bucket=bucket, Key=key, Body=SAMPLE.read_bytes())
        mine = _receipts_for(event.file_id)
        bootstrap = settings.kafka.bootstrap_servers
        [receipt] = mine(await read_topic(bootstrap, "billing-loaded", until=lambda rs: len(mine(rs)) >= 1, timeout=90))
        assert receipt.reconciled
        assert (receipt.rows_landed, receipt.landed_totals) == (1281, {"USD": TOTAL})
        retried = await read_topic(bootstrap, "billing-files.retry", until=lambda rs: len(rs) >= 1)
        assert any(dict(r.headers).get("cloudops-retry-round") == b"1" for r in retried)
        dead = await read_topic(bootstrap, "billing-files.dlq", until=lambda rs: True, timeout=5)
        assert not [d for d in (decode_record(DeadLetter, r.value) for r in dead) if d.file_id == event.file_id]
    finally:
        await app.stop()
        store.stop()
