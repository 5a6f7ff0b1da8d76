"""Consumer lag (the KEDA trigger's input) measured from the broker and exported as a metric."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from cloudops.embedded.broker import EmbeddedBroker
from cloudops.metrics import CONSUMER_LAG
from cloudops.settings import KafkaSettings
from cloudops.topics.admin import ensure_topics
from cloudops.topics.lag import export_lag

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
    assert await export_lag(broker.bootstrap_servers, group, ["focus-batches"]) == {
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
    lag = await export_lag(broker.bootstrap_servers, group, ["focus-batches", "no-such-topic"])
    assert lag == {("focus-batches", 0): 1, ("focus-batches", 1): 3}
    assert CONSUMER_LAG.labels(group, "focus-batches", "0")._value.get() == 1
