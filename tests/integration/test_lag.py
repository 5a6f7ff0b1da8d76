"""Consumer lag (the KEDA trigger's input) measured from the broker and exported as a metric."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata
from tests.support.faults import big_cur_file
from tests.support.settings import local_settings

from cloudops.app import create_app
from cloudops.embedded.broker import EmbeddedBroker
from cloudops.embedded.objectstore import EmbeddedObjectStore
from cloudops.ingest.parse import announcement, handle_billing_file
from cloudops.metrics import CONSUMER_LAG
from cloudops.schemas.events import BillingFile
from cloudops.settings import KafkaSettings
from cloudops.sources.objects import s3_client
from cloudops.topics.admin import ensure_topics
from cloudops.topics.lag import LagGate, export_lag

pytestmark = pytest.mark.integration


async def test_lag_is_end_offset_minus_committed(broker: EmbeddedBroker, unique: str) -> None:
    kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers, topic_partitions=2)
    await ensure_topics(kafka)
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for i in range(7):
            await producer.send_and_wait("focus-batches", value=b"x", partition=i % 2)
    finally:
        await producer.stop()
    group = f"lag-{unique}"
    assert await export_lag(kafka, group, ["focus-batches"]) == {
        ("focus-batches", 0): 4,
        ("focus-batches", 1): 3,
    }
    # The group commits 3 messages of partition 0: its lag there drops to 1.
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition("focus-batches", 0)])
        await consumer.commit({TopicPartition("focus-batches", 0): OffsetAndMetadata(3, "")})
    finally:
        await consumer.stop()
    lag = await export_lag(kafka, group, ["focus-batches", "no-such-topic"])
    assert lag == {("focus-batches", 0): 1, ("focus-batches", 1): 3}
    assert CONSUMER_LAG.labels(group, "focus-batches", "0")._value.get() == 1


async def _commit(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
    finally:
        await consumer.stop()


async def test_lag_gate_holds_while_the_group_is_behind(broker: EmbeddedBroker, unique: str) -> None:
    bootstrap = broker.bootstrap_servers
    topic = f"gate-{unique}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for _ in range(10):
            await producer.send_and_wait(topic, value=b"x", partition=0)
    finally:
        await producer.stop()
    group = f"gate-{unique}"
    gate = LagGate(KafkaSettings(bootstrap_servers=bootstrap), group, [topic], limit=3, check_s=0.1)
    # A group that has committed nothing has no consumer to wait for: no hold.
    assert await gate.wait() == 0.0
    tp = TopicPartition(topic, 0)
    await _commit(bootstrap, group, {tp: 2})  # 8 behind, limit 3: held
    gate = LagGate(KafkaSettings(bootstrap_servers=bootstrap), group, [topic], limit=3, check_s=0.1)
    held = asyncio.create_task(gate.wait())
    await asyncio.sleep(1.0)
    assert not held.done()
    assert gate.lag == 8
    await _commit(bootstrap, group, {tp: 8})  # the consumer caught up to 2 behind: released
    waited = await asyncio.wait_for(held, 10)
    assert waited >= 1.0
    assert gate.lag == 2


async def _ends(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await probe.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(probe.partitions_for_topic(topic) or ())]
        return dict(await probe.end_offsets(tps))
    finally:
        await probe.stop()


async def test_parse_holds_its_batches_while_the_loaders_lag(
    broker: EmbeddedBroker, object_store: EmbeddedObjectStore, chdb_dsn: str, tmp_path: Path, unique: str
) -> None:
    """Bounded in-flight batches: the parser stops publishing while the loaders' group is over the limit,
    and goes on as they catch up."""
    bootstrap = broker.bootstrap_servers
    loaders = f"loaders-{unique}"
    settings = local_settings(
        "gate",
        unique,
        tmp_path,
        broker,
        chdb_dsn,
        tenant=f"t{unique}",
        aws=object_store.settings(),
        ingest={"max_load_lag_batches": 2, "load_group": loaders, "block_bytes": 64 << 10},
    )
    await ensure_topics(settings.kafka)
    await _commit(bootstrap, loaders, await _ends(bootstrap, "focus-batches"))  # caught up so far
    bucket = f"bills-{unique}"
    big = big_cur_file(4)  # a few dozen batches
    async with s3_client(settings.aws) as s3:
        await s3.create_bucket(Bucket=bucket)
        put = await s3.put_object(Bucket=bucket, Key="cur/big.csv", Body=big.body)
    event = BillingFile(
        tenant=settings.app.tenant,
        url=f"s3://{bucket}/cur/big.csv",
        bucket=bucket,
        key="cur/big.csv",
        etag=put["ETag"].strip('"'),
        trigger="schedule",
    )
    app, rt = create_app(settings, ["parse"])
    assert rt.load_gate is not None
    rt.load_gate.check_s = 0.1
    await app.start()
    try:
        parsing = asyncio.create_task(handle_billing_file(rt, announcement(event)))
        await asyncio.sleep(3.0)
        # Held: a few batches over the limit at most (publishing goes on until a reading of the lag,
        # every check_s, comes back over it; on a loaded machine that reading takes longer), then
        # nothing more for as long as the loaders lag.
        held_at = rt.counters.get("parse.batches", 0)
        await asyncio.sleep(2.0)
        assert rt.counters.get("parse.batches", 0) == held_at
        assert 1 <= held_at <= 12
        assert not parsing.done()
        # The loaders work through the backlog: the parser goes on, a few batches at a time.
        while not parsing.done():
            await _commit(bootstrap, loaders, await _ends(bootstrap, "focus-batches"))
            await asyncio.sleep(0.3)
        await parsing
        assert rt.counters.get("parse.files") == 1
        assert rt.counters.get("parse.batches", 0) > held_at + 5
        assert rt.counters.get("parse.throttled", 0) >= 2
    finally:
        await app.stop()
