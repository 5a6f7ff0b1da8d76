"""What agents share: the Faust app, settings, bound topics, publishing, dead-lettering, and the
one message-handler wrapper (decode -> process -> classify -> dead-letter) every agent uses.

A consumed record travels as a :class:`Message` (topic, partition, offset, key, value,
headers); a :class:`Handler` names how to decode it and what to do with it, and
:meth:`Runtime.handle` runs it so that no exception ever drops a message silently: a failure
is classified (bad data, transient, bug) and the original record is dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import faust
from aiokafka.errors import KafkaError
from faust.types import TopicT

from cloudops import __version__
from cloudops.errors import ErrorKind, TransientError, classify, describe
from cloudops.metrics import DEAD_LETTERS
from cloudops.schemas.events import DeadLetter, RejectedRow
from cloudops.settings import Settings
from cloudops.topics.codec import encode_record
from cloudops.topics.lag import LagGate
from cloudops.topics.ledger import FileLedger
from cloudops.topics.retry import RetriesExhausted, with_retries
from cloudops.topics.specs import ALL_TOPICS, TopicSpec

__all__ = ["Handler", "Message", "Runtime", "Subject", "attempts_of"]

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Message:
    """One consumed record and where it was read: what a handler works on and a dead letter keeps.

    ``partition`` and ``offset`` are None for a record that did not come from Kafka (a queue
    message of the bridge, a file the takeover timer re-reads from the ledger).
    """

    topic: str
    partition: int | None = None
    offset: int | None = None
    key: bytes | None = None
    value: bytes | None = None
    headers: Mapping[str, bytes] = field(default_factory=dict)

    @classmethod
    def of(cls, record: Any) -> Message:
        """From a Faust (aiokafka) message; its headers come as a list of pairs or a mapping."""
        headers = dict(record.headers or {})
        return cls(record.topic, record.partition, record.offset, record.key, record.value, headers)


@dataclass(frozen=True, slots=True)
class Subject:
    """What a message is about, for its dead letter (tenant, file)."""

    tenant: str | None = None
    file_id: str | None = None
    file_url: str | None = None


def _no_subject(_: Any) -> Subject:
    return Subject()


def attempts_of(exc: BaseException) -> int:
    """How many attempts a failure took (in-place retries exhausted, else one)."""
    return exc.attempts if isinstance(exc, RetriesExhausted) else 1


@dataclass(frozen=True)
class Handler(Generic[T]):
    """How one agent treats a message of ``spec``: ``decode`` it (raise BadDataError when it cannot
    be), then ``process`` the decoded value. ``subject`` names the tenant and file of a decoded
    value for the dead letter; ``reason_prefix`` starts the dead letter's reason (which agent gave
    up); ``on_failure`` is told the error kind before the message is dead-lettered (metrics)."""

    spec: TopicSpec
    name: str
    decode: Callable[[Message], T]
    process: Callable[[T, Message], Awaitable[None]]
    subject: Callable[[T], Subject] = _no_subject
    reason_prefix: str = ""
    on_failure: Callable[[ErrorKind], None] | None = None


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

    async def handle(self, handler: Handler[T], message: Message) -> None:
        """Decode and process one message; never raises except on cancellation.

        A failure is classified (bad data, transient, bug: logged with its traceback) and the
        original record is dead-lettered to ``handler.spec``'s DLQ with the reason. A handler
        that retries or dead-letters on its own (parse) simply does not raise.
        """
        decoded: T | None = None
        try:
            decoded = handler.decode(message)
            await handler.process(decoded, message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            kind = classify(exc)
            if kind == "bug":
                log.exception("%s: unexpected error", handler.name)
            if handler.on_failure is not None:
                handler.on_failure(kind)
            subject = handler.subject(decoded) if decoded is not None else Subject()
            await self.dead_letter(
                handler.spec,
                error_kind=kind,
                reason=handler.reason_prefix + describe(exc),
                message=message,
                attempts=attempts_of(exc),
                subject=subject,
            )

    def register(self, handler: Handler[T], *, topic: TopicSpec | str | None = None, name: str) -> None:
        """Add a Faust agent named ``name`` that runs ``handler`` on every record of ``topic``
        (default: the handler's topic), one at a time in partition order."""

        async def consume(stream: Any) -> None:
            # Acked by hand, once the handler has returned (handled or dead-lettered). Faust's own
            # acks happen in a `finally` when the loop leaves an event - also when the worker is
            # stopped (SIGTERM on scale-down) in the middle of handling it, which committed the
            # offset of a record never handled: a loader stopped mid-batch left its file unfinished
            # until the re-parse timer (benchmarks/scaling.py found it). Unacked, the record is
            # delivered again to the next owner of the partition; every handler is idempotent.
            manual = stream.noack()
            async for event in manual.events():
                await self.handle(handler, Message.of(event.message))
                await manual.ack(event)

        self.app.agent(self.topic(topic or handler.spec), name=name)(consume)

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
        message: Message | None = None,
        attempts: int = 1,
        source_topic: str | None = None,
        subject: Subject | None = None,
        rejected_row: RejectedRow | None = None,
    ) -> None:
        """Publish a DeadLetter record of ``message`` to ``spec``'s DLQ twin and wait for the ack.

        ``source_topic`` (default ``spec``'s topic) is where a replay sends the record back to,
        e.g. ``billing-files`` for a record read from ``billing-files.retry``.
        """
        msg = message or Message(spec.name)
        about = subject or Subject()
        record = DeadLetter(
            source_topic=source_topic or spec.name,
            partition=msg.partition,
            offset=msg.offset,
            key_b64=DeadLetter.b64(msg.key),
            value_b64=DeadLetter.b64(msg.value),
            headers_b64={k: DeadLetter.b64(v) or "" for k, v in msg.headers.items()} if msg.headers else None,
            error_kind=error_kind,
            reason=reason,
            attempts=attempts,
            app_version=__version__,
            tenant=about.tenant,
            file_id=about.file_id,
            file_url=about.file_url,
            rejected_row=rejected_row,
        )
        dlq_key = about.file_id or (msg.key.decode(errors="replace") if msg.key else "")
        await self.publish(spec.dlq, key=dlq_key, value=encode_record(record))
        self.count(f"dlq.{spec.name}.{error_kind}")
        DEAD_LETTERS.labels(spec.dlq, error_kind).inc()
        if rejected_row is None:
            log.warning("dead-lettered to %s (%s): %s", spec.dlq, error_kind, reason)
