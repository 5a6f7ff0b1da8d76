"""Consumer lag per group, topic and partition: what KEDA scales on, exported as a Prometheus gauge.

Lag = the partition's end offset - the group's committed offset (the whole partition when
the group has committed nothing yet). Read with the admin API and a group-less consumer:
nothing joins or disturbs the group.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from cloudops.metrics import CONSUMER_LAG, CONSUMER_TOPIC_LAG
from cloudops.settings import KafkaSettings
from cloudops.topics.clients import client_kwargs

__all__ = ["LagGate", "consumer_lag", "export_lag"]

log = logging.getLogger(__name__)


async def _offsets(
    kafka: KafkaSettings, group: str, topics: Iterable[str]
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """(end offsets, the group's committed offsets) of every partition of ``topics`` that exists."""
    wanted = set(topics)
    admin = AIOKafkaAdminClient(**client_kwargs(kafka))
    consumer = AIOKafkaConsumer(**client_kwargs(kafka), enable_auto_commit=False, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        tps = [TopicPartition(t, p) for t in sorted(wanted) for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not tps:
            return {}, {}
        ends = await consumer.end_offsets(tps)
        done = {tp: meta.offset for tp in tps if (meta := committed.get(tp)) is not None and meta.offset >= 0}
        return dict(ends), done
    finally:
        await consumer.stop()
        await admin.close()


def _lag(ends: dict[TopicPartition, int], done: dict[TopicPartition, int]) -> dict[tuple[str, int], int]:
    """Per partition: end offset - committed offset (the whole partition where nothing is committed)."""
    return {(tp.topic, tp.partition): max(0, end - done.get(tp, 0)) for tp, end in ends.items()}


async def consumer_lag(kafka: KafkaSettings, group: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """(topic, partition) -> messages the group has not committed yet. Topics that do not exist are skipped."""
    return _lag(*await _offsets(kafka, group, topics))


async def export_lag(kafka: KafkaSettings, group: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """Measure the group's lag and set ``cloudops_consumer_lag_messages`` (per partition) and
    ``cloudops_consumer_group_lag_messages`` (per topic); returns the measurement."""
    lag = await consumer_lag(kafka, group, topics)
    for (topic, partition), n in lag.items():
        CONSUMER_LAG.labels(group, topic, str(partition)).set(n)
    per_topic: dict[str, int] = {}
    for (topic, _partition), n in lag.items():
        per_topic[topic] = per_topic.get(topic, 0) + n
    for topic, n in per_topic.items():
        CONSUMER_TOPIC_LAG.labels(group, topic).set(n)
    return lag


class LagGate:
    """Backpressure between two stages: :meth:`wait` returns once ``group`` is at most ``limit``
    messages behind on ``topics`` (the parser waits on the loader before publishing a batch).

    The lag is measured at most every ``check_s`` (:func:`consumer_lag`: nothing joins the
    group). A measurement that fails lets the caller go on (logged): a lag that cannot be
    read must never stall ingest, and Kafka still holds the backlog.
    """

    def __init__(
        self, kafka: KafkaSettings, group: str, topics: Iterable[str], limit: int, *, check_s: float = 2.0
    ) -> None:
        self.kafka = kafka
        self.group = group
        self.topics = sorted(set(topics))
        self.limit = limit
        self.check_s = check_s
        self.lag = 0
        self._measured_at = float("-inf")
        self._lock = asyncio.Lock()

    async def current(self) -> int:
        """The group's lag, re-measured if the last reading is older than ``check_s``.

        0 while the group has committed nothing on these topics: no consumer of that group is
        there to wait for (a misnamed group must not stall the producer for good).
        """
        async with self._lock:
            if time.monotonic() - self._measured_at >= self.check_s:
                try:
                    ends, done = await _offsets(self.kafka, self.group, self.topics)
                    self.lag = sum(_lag(ends, done).values()) if done else 0
                except Exception as exc:
                    log.info("lag gate: %s's lag not measured (%s); not waiting", self.group, exc)
                    self.lag = 0
                self._measured_at = time.monotonic()
            return self.lag

    async def wait(self, what: str = "") -> float:
        """Wait while the lag is over the limit; returns the seconds waited (0 at once when under it)."""
        if self.limit <= 0:
            return 0.0
        started = time.monotonic()
        warned = False
        while await self.current() > self.limit:
            if not warned:
                log.info(
                    "backpressure: %s is %d messages behind on %s (limit %d); holding %s",
                    self.group,
                    self.lag,
                    ",".join(self.topics),
                    self.limit,
                    what or "the next send",
                )
                warned = True
            await asyncio.sleep(self.check_s)
        return time.monotonic() - started if warned else 0.0
