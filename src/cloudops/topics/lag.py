"""Consumer lag per group, topic and partition: what KEDA scales on, exported as a Prometheus gauge.

Lag = the partition's end offset - the group's committed offset (the whole partition when
the group has committed nothing yet). Read with the admin API and a group-less consumer:
nothing joins or disturbs the group.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from cloudops.metrics import CONSUMER_LAG

__all__ = ["consumer_lag", "export_lag"]

log = logging.getLogger(__name__)


async def consumer_lag(bootstrap: str, group: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """(topic, partition) -> messages the group has not committed yet. Topics that do not exist are skipped."""
    wanted = set(topics)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        tps = [TopicPartition(t, p) for t in sorted(wanted) for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not tps:
            return {}
        ends = await consumer.end_offsets(tps)
        out: dict[tuple[str, int], int] = {}
        for tp in tps:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            out[(tp.topic, tp.partition)] = max(0, ends[tp] - done)
        return out
    finally:
        await consumer.stop()
        await admin.close()


async def export_lag(bootstrap: str, group: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """Measure the group's lag and set ``cloudops_consumer_lag_messages``; returns the measurement."""
    lag = await consumer_lag(bootstrap, group, topics)
    for (topic, partition), n in lag.items():
        CONSUMER_LAG.labels(group, topic, str(partition)).set(n)
    return lag
