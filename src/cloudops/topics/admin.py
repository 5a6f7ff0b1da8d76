"""Topic administration: create every topic and its DLQ twin with the configured partitions."""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from cloudops.settings import KafkaSettings
from cloudops.topics.clients import client_kwargs
from cloudops.topics.specs import ALL_TOPICS

__all__ = ["all_topic_names", "ensure_topics"]


def all_topic_names() -> list[str]:
    """Every topic cloudops uses, retry topics and DLQs included."""
    return [n for spec in ALL_TOPICS for n in spec.names]


async def ensure_topics(kafka: KafkaSettings) -> list[str]:
    """Create missing topics; returns the names created. Idempotent."""
    admin = AIOKafkaAdminClient(**client_kwargs(kafka), request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in all_topic_names() if n not in existing]
        if missing:
            new = [
                NewTopic(name=n, num_partitions=kafka.topic_partitions, replication_factor=kafka.replication_factor)
                for n in missing
            ]
            with contextlib.suppress(TopicAlreadyExistsError):  # a concurrent worker created it first
                await admin.create_topics(new)
        return missing
    finally:
        await admin.close()
