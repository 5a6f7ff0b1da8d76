"""The one message-handler wrapper: decode -> process -> classify -> dead-letter, for every agent."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import faust
import pytest

from cloudops.errors import TransientError
from cloudops.schemas.events import BillingFile, DeadLetter
from cloudops.settings import Settings
from cloudops.topics.codec import decode_record, encode_record
from cloudops.topics.runtime import Handler, Message, Runtime, Subject
from cloudops.topics.specs import BILLING_FILES


class _Runtime(Runtime):
    """A runtime whose publish records what it would send (no broker in unit tests)."""

    sent: list[tuple[str, str, bytes]]

    async def publish(self, topic: Any, *, key: str, value: bytes, headers: Any = None) -> Any:
        self.sent.append((topic if isinstance(topic, str) else topic.name, key, value))


def _runtime() -> _Runtime:
    rt = _Runtime(app=cast(faust.App, None), settings=Settings())
    rt.sent = []
    return rt


def _handler(seen: list[BillingFile], fail: Exception | None = None) -> Handler[BillingFile]:
    async def process(event: BillingFile, message: Message) -> None:
        seen.append(event)
        if fail is not None:
            raise fail

    return Handler(
        BILLING_FILES,
        "parse",
        decode=lambda m: decode_record(BillingFile, m.value),
        process=process,
        subject=lambda e: Subject(e.tenant, e.file_id, e.url),
        reason_prefix="parse: ",
    )


EVENT = BillingFile(tenant="acme", url="s3://b/cur/a.csv", bucket="b", key="cur/a.csv", etag="e1", trigger="s3-event")


def _message(value: bytes) -> Message:
    return Message("billing-files.retry", 2, 41, b"k1", value, {"cloudops-retry-round": b"1"})


async def test_a_processed_message_sends_no_dead_letter() -> None:
    rt, seen = _runtime(), []
    await rt.handle(_handler(seen), _message(encode_record(EVENT)))
    assert seen == [EVENT]
    assert rt.sent == []


async def test_an_undecodable_message_is_dead_lettered_as_bad_data_with_its_original_record() -> None:
    rt, seen = _runtime(), []
    await rt.handle(_handler(seen), _message(b"not json"))
    assert seen == []
    [(topic, key, value)] = rt.sent
    letter = decode_record(DeadLetter, value)
    assert (topic, key) == ("billing-files.dlq", "k1")
    assert letter.error_kind == "bad_data"
    assert letter.reason.startswith("parse: ")
    # Where it was read and what it was, byte for byte: a replay sends back exactly this.
    assert (letter.source_topic, letter.partition, letter.offset) == ("billing-files", 2, 41)
    assert (letter.key_b64, letter.value_b64) == (DeadLetter.b64(b"k1"), DeadLetter.b64(b"not json"))
    assert letter.headers_b64 == {"cloudops-retry-round": DeadLetter.b64(b"1")}
    assert (letter.tenant, letter.file_id) == (None, None)
    assert rt.counters == {"dlq.billing-files.bad_data": 1}


@pytest.mark.parametrize(("failure", "kind"), [(TransientError("broker away"), "transient"), (KeyError("oops"), "bug")])
async def test_a_failure_while_processing_is_classified_and_names_its_subject(failure: Exception, kind: str) -> None:
    rt, seen = _runtime(), []
    await rt.handle(_handler(seen, failure), _message(encode_record(EVENT)))
    [(_, key, value)] = rt.sent
    letter = decode_record(DeadLetter, value)
    assert letter.error_kind == kind
    assert letter.reason == f"parse: {type(failure).__name__}: {failure}"
    assert (letter.tenant, letter.file_id, letter.file_url) == ("acme", EVENT.file_id, EVENT.url)
    assert key == EVENT.file_id  # dead letters of one file share its key


def test_a_message_is_built_from_a_consumed_record_with_headers_as_pairs() -> None:
    record = SimpleNamespace(
        topic="focus-batches", partition=1, offset=7, key=b"f", value=b"v", headers=[("content-type", b"x")]
    )
    assert Message.of(record) == Message("focus-batches", 1, 7, b"f", b"v", {"content-type": b"x"})
