"""Reading topics in tests: a group-less consumer from the beginning of every partition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[Any]], bool],
    timeout: float = 60.0,
) -> list[Any]:
    """All records of ``topic`` from offset 0, polled until ``until(records)`` is true.

    Raises TimeoutError (with what was read) if the condition is not met in time.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        parts = None
        while not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic)
            if not parts:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"topic {topic} never appeared")
                await asyncio.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while not until(records):
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met on {topic} after {timeout}s; read {len(records)} records")
            batches = await consumer.getmany(timeout_ms=500)
            for recs in batches.values():
                records.extend(recs)
        return records
    finally:
        await consumer.stop()
