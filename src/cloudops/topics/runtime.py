"""What agents share: the Faust app, settings, bound topics, publishing and dead-lettering."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import faust
from aiokafka.errors import KafkaError
from faust.types import TopicT

from cloudops import __version__
from cloudops.errors import ErrorKind, TransientError
from cloudops.metrics import DEAD_LETTERS
from cloudops.schemas.events import DeadLetter, RejectedRow
from cloudops.settings import Settings
from cloudops.topics.codec import encode_record
from cloudops.topics.lag import LagGate
from cloudops.topics.ledger import FileLedger
from cloudops.topics.retry import with_retries
from cloudops.topics.specs import ALL_TOPICS, TopicSpec

__all__ = ["Runtime"]

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Topics bound to one Faust app, plus helpers every agent uses."""

    app: faust.App
    settings: Settings
    topics: dict[str, TopicT] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    ledger: FileLedger | None = None
    load_gate: LagGate | None = None  # set by the parse role: backpressure on the loaders' lag

    @classmethod
    def bind(cls, app: faust.App, settings: Settings) -> Runtime:
        rt = cls(app, settings, ledger=FileLedger(settings))
        for spec in ALL_TOPICS:
            for name in spec.names:
                rt.topics[name] = app.topic(
                    name,
                    key_type=bytes,
                    value_type=bytes,
                    key_serializer="raw",
                    value_serializer="raw",
                    partitions=settings.kafka.topic_partitions,
                    replicas=settings.kafka.replication_factor,
                )
        return rt

    def topic(self, spec: TopicSpec | str) -> TopicT:
        return self.topics[spec if isinstance(spec, str) else spec.name]

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    async def publish(
        self, topic: TopicSpec | str, *, key: str, value: bytes, headers: Mapping[str, bytes] | None = None
    ) -> Any:
        """Send and wait until the broker acknowledged it; returns the RecordMetadata.

        A broker that is away (restarting, leader moving) is waited out with bounded backoff
        for up to ``kafka.publish_budget_s``, then TransientError. A send retried after a lost
        acknowledgement may publish twice: every consumer is idempotent by key and batch id.
        """
        name = topic if isinstance(topic, str) else topic.name

        async def once() -> Any:
            try:
                fut = await self.topic(topic).send(key=key.encode(), value=value, headers=dict(headers or {}))
                return await fut
            except KafkaError as exc:
                raise TransientError(f"publish to {name}: {type(exc).__name__}: {exc}") from exc

        return await with_retries(
            once,
            what=f"publish {name}",
            attempts=5,
            base_s=0.5,
            max_s=5.0,
            budget_s=self.settings.kafka.publish_budget_s,
        )

    async def dead_letter(
        self,
        spec: TopicSpec,
        *,
        error_kind: ErrorKind,
        reason: str,
        key: bytes | None = None,
        value: bytes | None = None,
        partition: int | None = None,
        offset: int | None = None,
        attempts: int = 1,
        source_topic: str | None = None,
        tenant: str | None = None,
        file_id: str | None = None,
        file_url: str | None = None,
        rejected_row: RejectedRow | None = None,
        headers: Mapping[str, bytes] | None = None,
    ) -> None:
        """Publish a DeadLetter record to ``spec``'s DLQ twin and wait for the ack."""
        record = DeadLetter(
            source_topic=source_topic or spec.name,
            partition=partition,
            offset=offset,
            key_b64=DeadLetter.b64(key),
            value_b64=DeadLetter.b64(value),
            headers_b64={k: DeadLetter.b64(v) or "" for k, v in headers.items()} if headers else None,
            error_kind=error_kind,
            reason=reason,
            attempts=attempts,
            app_version=__version__,
            tenant=tenant,
            file_id=file_id,
            file_url=file_url,
            rejected_row=rejected_row,
        )
        dlq_key = file_id or (key.decode(errors="replace") if key else "")
        await self.publish(spec.dlq, key=dlq_key, value=encode_record(record))
        self.count(f"dlq.{spec.name}.{error_kind}")
        DEAD_LETTERS.labels(spec.dlq, error_kind).inc()
        if rejected_row is None:
            log.warning("dead-lettered to %s (%s): %s", spec.dlq, error_kind, reason)
