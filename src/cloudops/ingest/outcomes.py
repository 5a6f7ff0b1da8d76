"""How a file's parse ends when it does not end in batches: given up, parked for a retry round,
superseded, or taken over by another worker. Each records the file's state (through
:class:`~cloudops.ingest.lifecycle.FileLifecycle`) and, where the message needs a second
look, dead-letters it or puts it on ``billing-files.retry``.
"""

from __future__ import annotations

import logging
import time

from cloudops.errors import ErrorKind, ObjectSupersededError
from cloudops.ingest.lifecycle import FileLifecycle
from cloudops.metrics import FILES, RETRIES
from cloudops.schemas.events import BillingFile
from cloudops.topics.ledger import Claim
from cloudops.topics.runtime import Message, Runtime, Subject
from cloudops.topics.specs import BILLING_FILES, RETRY_AT_HEADER, RETRY_ROUND_HEADER

__all__ = ["give_up", "retry_later", "superseded", "taken_over"]

log = logging.getLogger(__name__)


async def give_up(
    rt: Runtime,
    event: BillingFile,
    message: Message,
    kind: ErrorKind,
    reason: str,
    attempts: int,
    claim: Claim | None = None,
) -> None:
    """Mark the file rejected (bad data) or failed in the ledger, then dead-letter its message."""
    await FileLifecycle(rt).given_up(event, kind, reason, claim)
    await rt.dead_letter(
        BILLING_FILES,
        error_kind=kind,
        reason=reason,
        message=message,
        attempts=attempts,
        subject=Subject(event.tenant, event.file_id, event.url),
    )


async def retry_later(
    rt: Runtime, event: BillingFile, message: Message, retry_round: int, reason: str, claim: Claim | None = None
) -> bool:
    """Park the message on the retry topic for a later round; False when the rounds are used up."""
    ing = rt.settings.ingest
    if retry_round >= ing.retry_rounds or message.value is None:
        return False
    delay = min(900.0, ing.retry_delay_s * 2**retry_round)
    await FileLifecycle(rt).retrying(event, reason, claim)
    retry_topic = BILLING_FILES.retry_topic
    assert retry_topic is not None
    await rt.publish(
        retry_topic,
        key=(message.key or event.file_id.encode()).decode(errors="replace"),
        value=message.value,
        headers={
            RETRY_ROUND_HEADER: str(retry_round + 1).encode(),
            RETRY_AT_HEADER: f"{time.time() + delay:.3f}".encode(),
        },
    )
    rt.count("parse.retried")
    RETRIES.labels("parse-round").inc()
    log.warning("parse: %s failed (%s); retry round %d in %.0fs", event.url, reason, retry_round + 1, delay)
    return True


async def superseded(rt: Runtime, event: BillingFile, exc: ObjectSupersededError, claim: Claim | None = None) -> None:
    """The announced version was overwritten before it was read: record it, no dead letter."""
    rt.count("parse.superseded")
    FILES.labels("parse", "superseded").inc()
    log.info("parse: %s was overwritten before it was read; its newer version is ingested on its own", event.url)
    await FileLifecycle(rt).superseded(event, exc.reason, claim)


def taken_over(rt: Runtime, event: BillingFile, when: str) -> None:
    """Another worker owns the file now: its end record and ledger moves count, not ours."""
    rt.count("parse.claim_lost")
    FILES.labels("parse", "taken_over").inc()
    log.warning("parse: another worker took %s over %s; stopping here and leaving it to that worker", event.url, when)
