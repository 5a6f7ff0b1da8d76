"""A parse worker whose claim is taken over mid-file stops: no end record, no abort, no dead letter.

The claim's ``attempts`` count fences a worker that stalled past its lease (a long GC pause, a
frozen VM, a starved event loop): once another worker has claimed the file, the stalled one
must not publish an ``aborted`` end record (the loader would delete rows the new owner
landed), re-route the file or mark it failed in the ledger.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.support.kafka import read_topic
from tests.support.settings import local_settings

from cloudops.app import create_app
from cloudops.embedded.broker import EmbeddedBroker
from cloudops.embedded.objectstore import EmbeddedObjectStore
from cloudops.ingest.load import Loader
from cloudops.ingest.parse import announcement, handle_billing_file
from cloudops.schemas.events import BillingFile
from cloudops.sinks.clickhouse import connect
from cloudops.sinks.postgres import migrate
from cloudops.sinks.postgres.client import schema_for
from cloudops.sinks.postgres.ledger import add_source, claim, get_file, stale_claims
from cloudops.sources.objects import s3_client
from cloudops.topics.admin import ensure_topics
from cloudops.topics.codec import ENVELOPE_HEADER, decode_envelope
from cloudops.topics.runtime import Message
from cloudops.topics.specs import FOCUS_BATCHES

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).parents[1] / "fixtures" / "aws" / "cur_sample.csv"
LEASE_S = 1.5


@pytest.fixture
async def parser(
    broker: EmbeddedBroker,
    object_store: EmbeddedObjectStore,
    chdb_dsn: str,
    postgres_db: str,
    tmp_path: Path,
    unique: str,
) -> AsyncIterator[tuple[Any, BillingFile]]:
    tenant = f"t{unique}"
    bucket = f"bills-{unique}"
    migrate(postgres_db, tenant)
    add_source(postgres_db, tenant, id="aws-main", provider="aws", bucket=bucket, prefix="cur/")
    settings = local_settings(
        "claims",
        unique,
        tmp_path,
        broker,
        chdb_dsn,
        tenant=tenant,
        postgres_dsn=postgres_db,
        aws=object_store.settings(),
        # Many small batches, so the file is still being published when the claim is taken.
        ingest={"claim_lease_s": LEASE_S, "block_bytes": 64 << 10, "retry_rounds": 0},
    )
    key = "cur/2023-11/cur.csv"
    async with s3_client(settings.aws) as s3:
        await s3.create_bucket(Bucket=bucket)
        put = await s3.put_object(Bucket=bucket, Key=key, Body=SAMPLE.read_bytes())
    event = BillingFile(
        tenant=tenant,
        url=f"s3://{bucket}/{key}",
        bucket=bucket,
        key=key,
        etag=put["ETag"].strip('"'),
        trigger="schedule",
    )
    await ensure_topics(settings.kafka)
    app, rt = create_app(settings, ["parse"])
    await app.start()
    try:
        yield rt, event
    finally:
        await app.stop()


def _spy(rt: Any, event: BillingFile, *, then: str) -> list[str]:
    """Record what the worker publishes; after its first batch, another worker takes the file over.

    ``then``: ``stall`` (the worker carries on and its heartbeat notices the takeover) or
    ``fail`` (its next publish fails at once, as if the broker went away, before any heartbeat).
    """
    published: list[str] = []
    real = rt.publish
    dsn = rt.settings.postgres.dsn

    async def publish(topic: Any, *, key: str, value: bytes, headers: Any = None) -> Any:
        name = getattr(topic, "name", topic)
        kind = decode_envelope(dict(headers)).kind if headers and ENVELOPE_HEADER in headers else "record"
        if then == "fail" and published == ["rows"]:
            raise ConnectionError("broker went away")
        published.append(kind if name == FOCUS_BATCHES.name else name)
        sent = await real(topic, key=key, value=value, headers=headers)
        if published == ["rows"]:
            # Another worker's claim after this one's lease lapsed (lease 0 = lapsed now).
            assert await asyncio.to_thread(claim, dsn, event.tenant, event.file_id, lease_s=0) is not None
            if then == "stall":
                await asyncio.sleep(LEASE_S)  # the heartbeat notices on its next beat
        return sent

    rt.publish = publish
    return published


@pytest.mark.parametrize("then", ["stall", "fail"])
async def test_a_worker_that_lost_its_claim_stops_without_aborting(parser: tuple[Any, BillingFile], then: str) -> None:
    rt, event = parser
    published = _spy(rt, event, then=then)
    await handle_billing_file(rt, announcement(event))

    assert rt.counters.get("parse.claim_lost") == 1
    assert published == ["rows"]  # one batch; no more, no end record (complete or aborted)
    assert not rt.counters.get("parse.files")
    assert not [k for k in rt.counters if k.startswith("dlq.")]  # nothing dead-lettered or sent to retry
    assert not rt.counters.get("parse.retried")
    entry = get_file(rt.settings.postgres.dsn, event.tenant, event.file_id)
    assert entry is not None
    # The ledger is the new owner's: still parsing under its claim, no error recorded by the loser.
    assert (entry.state, entry.attempts, entry.last_error) == ("parsing", 2, None)


async def test_a_slow_worker_keeps_its_claim_by_heartbeat(parser: tuple[Any, BillingFile]) -> None:
    """The control case: a file that takes several leases to publish is not taken from a live worker."""
    rt, event = parser
    real = rt.publish
    dsn = rt.settings.postgres.dsn
    steals: list[object] = []

    async def slow(topic: Any, *, key: str, value: bytes, headers: Any = None) -> Any:
        await asyncio.sleep(0.25)
        # Another worker tries to take the file whenever the lease would have lapsed without heartbeats.
        steals.append(await asyncio.to_thread(claim, dsn, event.tenant, event.file_id, lease_s=LEASE_S))
        return await real(topic, key=key, value=value, headers=headers)

    rt.publish = slow
    started = asyncio.get_running_loop().time()
    await handle_billing_file(rt, announcement(event))
    assert asyncio.get_running_loop().time() - started > 2 * LEASE_S  # long enough to need heartbeats
    assert steals
    assert steals == [None] * len(steals)
    assert rt.counters.get("parse.files") == 1
    assert not rt.counters.get("parse.claim_lost")
    entry = get_file(rt.settings.postgres.dsn, event.tenant, event.file_id)
    assert entry is not None
    assert (entry.state, entry.attempts, entry.rows_in) == ("parsed", 1, 1281)


async def test_the_loader_keeps_a_file_it_is_loading_from_looking_lost(parser: tuple[Any, BillingFile]) -> None:
    """A file parsed long ago whose batches are still loading (a backlog) is not re-parsed."""
    rt, event = parser
    await handle_billing_file(rt, announcement(event))
    dsn = rt.settings.postgres.dsn
    # Parsed 20 minutes ago, not loaded since: lost, by a 10-minute reparse_after_s (the app's own
    # recovery timer uses the default hour, so it leaves the file alone during the test).
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            f"UPDATE \"{schema_for(event.tenant)}\".file_ledger SET updated_at = now() - interval '20 minutes' "
            "WHERE file_id = %s",
            [event.file_id],
        )
    ev = event.model_dump(mode="json")
    assert stale_claims(dsn, event.tenant, older_than_s=3600, parsed_older_than_s=600) == [ev]

    records = await read_topic(
        rt.settings.kafka.bootstrap_servers,
        FOCUS_BATCHES.name,
        until=lambda rs: any(r.key == event.file_id.encode() for r in rs),
    )
    first = next(r for r in records if r.key == event.file_id.encode())
    loader = Loader(rt, connect(rt.settings.clickhouse_dsn))
    await rt.handle(loader.handler(), Message.of(first))
    assert rt.counters.get("load.rows", 0) > 0
    # The loader's heartbeat: the file is loading, not lost.
    assert stale_claims(dsn, event.tenant, older_than_s=3600, parsed_older_than_s=600) == []
    entry = get_file(dsn, event.tenant, event.file_id)
    assert entry is not None
    assert entry.state == "parsed"
