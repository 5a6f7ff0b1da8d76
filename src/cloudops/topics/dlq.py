"""Reading and replaying dead-letter queues (``<topic>.dlq``).

A dead letter carries the original key, value and headers, where they were read from
and why they failed. :func:`read_dead_letters` reads a DLQ from its beginning to its
current end without joining a consumer group (nothing is committed, nothing is taken
from running workers). :func:`replay` publishes chosen dead letters back to their
source topic, byte for byte, with a header naming the dead letter they came from; when
a control plane is configured the files' ledger rows are reopened so they are parsed
again. Rejected rows (``rejected_row``) cannot be replayed one by one: fix the data and
ingest the file again.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from cloudops.errors import BadDataError, ConfigError
from cloudops.schemas.events import DeadLetter
from cloudops.settings import KafkaSettings, Settings
from cloudops.sinks.postgres import ledger
from cloudops.topics.clients import client_kwargs
from cloudops.topics.codec import decode_record
from cloudops.topics.specs import ALL_TOPICS

__all__ = ["REPLAYED_FROM_HEADER", "DeadLetterRecord", "dlq_topics", "read_dead_letters", "replay"]

REPLAYED_FROM_HEADER = "cloudops-replayed-from"


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """A dead letter and where it sits in its DLQ."""

    topic: str
    partition: int
    offset: int
    letter: DeadLetter

    @property
    def position(self) -> str:
        """``topic:partition:offset``, how the CLI names one dead letter."""
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def replayable(self) -> bool:
        return self.letter.value_b64 is not None and self.letter.rejected_row is None


def dlq_topics() -> list[str]:
    """Every DLQ cloudops writes to."""
    return [spec.dlq for spec in ALL_TOPICS]


async def read_dead_letters(kafka: KafkaSettings, topic: str, *, timeout_s: float = 15.0) -> list[DeadLetterRecord]:
    """Every dead letter in ``topic`` up to its end offsets at call time, oldest first per partition.

    Raises ConfigError for an unknown DLQ name. Records that are not DeadLetter JSON are
    returned as dead letters describing the problem (a DLQ must never be unreadable).
    """
    if topic not in dlq_topics():
        raise ConfigError(f"unknown dead-letter queue {topic!r}: choose from {', '.join(dlq_topics())}")
    consumer = AIOKafkaConsumer(**client_kwargs(kafka), enable_auto_commit=False, group_id=None)
    await consumer.start()
    out: list[DeadLetterRecord] = []
    try:
        parts = consumer.partitions_for_topic(topic)
        if parts is None:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if ends[tp] > 0}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while remaining and loop.time() < deadline:
            batch = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, records in batch.items():
                for rec in records:
                    if rec.offset < ends[tp]:
                        out.append(DeadLetterRecord(topic, tp.partition, rec.offset, _letter(rec.value, topic)))
                    if rec.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        if remaining:
            raise TimeoutError(f"could not read {topic} to its end within {timeout_s:.0f}s")
    finally:
        await consumer.stop()
    return sorted(out, key=lambda r: (r.letter.failed_at, r.partition, r.offset))


def _letter(value: bytes | None, topic: str) -> DeadLetter:
    try:
        return decode_record(DeadLetter, value)
    except BadDataError as exc:
        return DeadLetter(
            source_topic=topic.removesuffix(".dlq"),
            value_b64=DeadLetter.b64(value),
            error_kind="bad_data",
            reason=f"unreadable dead letter: {exc.reason}",
            app_version="unknown",
        )


async def replay(settings: Settings, records: Iterable[DeadLetterRecord]) -> list[DeadLetterRecord]:
    """Publish each replayable record's original bytes to its source topic (an S3 notification the
    bridge dead-lettered: back to its SQS queue); returns those sent.

    Waits for the broker's acknowledgement of every record. With a control plane, the
    ledger row of each replayed file is reopened first (so the parse agent claims it).
    """
    chosen = [r for r in records if r.replayable]
    if not chosen:
        return []
    dsn = settings.postgres.dsn
    if dsn:
        for r in chosen:
            if r.letter.tenant and r.letter.file_id:
                await asyncio.to_thread(ledger.reopen, dsn, r.letter.tenant, r.letter.file_id)
    # A notification the bridge could not route goes back to its SQS queue, to be routed again.
    from_sqs = [r for r in chosen if r.letter.source_topic.startswith("sqs:")]
    if from_sqs:
        from cloudops.sources.objects import s3_client

        async with s3_client(settings.aws, "sqs") as sqs:
            for r in from_sqs:
                body = base64.b64decode(r.letter.value_b64 or "").decode()
                await sqs.send_message(QueueUrl=r.letter.source_topic.removeprefix("sqs:"), MessageBody=body)
    producer = AIOKafkaProducer(**client_kwargs(settings.kafka), acks="all")
    await producer.start()
    try:
        for r in chosen:
            letter = r.letter
            if letter.source_topic.startswith("sqs:"):
                continue
            headers = [(k, base64.b64decode(v)) for k, v in (letter.headers_b64 or {}).items()]
            headers.append((REPLAYED_FROM_HEADER, r.position.encode()))
            await producer.send_and_wait(
                letter.source_topic,
                key=base64.b64decode(letter.key_b64) if letter.key_b64 else None,
                value=base64.b64decode(letter.value_b64 or ""),
                headers=headers,
            )
    finally:
        await producer.stop()
    return chosen
