"""Dead-letter use cases: list, show and replay what failed, as a tenant sees it.

A tenant-bound caller sees (and replays) only dead letters of its own tenant; a platform
caller not bound to a tenant sees every one. Reading never joins a consumer group (see
:mod:`cloudops.topics.dlq`). Async: these talk to the broker.
"""

from __future__ import annotations

from cloudops.service.context import Caller, InvalidInput, NotFound, audit, control_plane
from cloudops.topics.dlq import DeadLetterRecord, dlq_topics, read_dead_letters, replay

__all__ = ["DeadLetterRecord", "find_dead_letter", "list_dead_letters", "replay_dead_letters"]

_KINDS = ("bad_data", "transient", "bug")


def _visible(caller: Caller, record: DeadLetterRecord) -> bool:
    return caller.tenant is None or record.letter.tenant == caller.tenant


async def list_dead_letters(
    caller: Caller, *, topic: str | None = None, kind: str | None = None
) -> list[DeadLetterRecord]:
    """Dead letters the caller may see (of one DLQ, one error kind), oldest first."""
    topics = dlq_topics()
    if topic is not None and topic not in topics:
        raise InvalidInput(f"unknown DLQ {topic!r}: choose from {', '.join(topics)}")
    if kind is not None and kind not in _KINDS:
        raise InvalidInput(f"unknown error kind {kind!r}: choose from {', '.join(_KINDS)}")
    kafka = caller.settings.kafka
    out: list[DeadLetterRecord] = []
    for name in [topic] if topic else topics:
        out.extend(r for r in await read_dead_letters(kafka, name) if _visible(caller, r))
    if kind:
        out = [r for r in out if r.letter.error_kind == kind]
    return sorted(out, key=lambda r: r.letter.failed_at)


async def find_dead_letter(caller: Caller, position: str) -> DeadLetterRecord:
    """The dead letter at ``topic:partition:offset``; InvalidInput for a malformed position, NotFound."""
    parts = position.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise InvalidInput(f"{position!r} is not topic:partition:offset")
    for r in await list_dead_letters(caller, topic=parts[0]):
        if r.partition == int(parts[1]) and r.offset == int(parts[2]):
            return r
    raise NotFound(f"no dead letter at {position}")


async def replay_dead_letters(caller: Caller, records: list[DeadLetterRecord]) -> list[DeadLetterRecord]:
    """Send replayable dead letters back to their source topic, byte for byte; returns those sent.

    Audited per tenant (``dlq.replayed``) when a control plane is configured.
    """
    for r in records:
        if not _visible(caller, r):
            raise NotFound(f"no dead letter at {r.position}")
    sent = await replay(caller.settings, [r for r in records if r.replayable])
    if sent and caller.settings.postgres.dsn:
        import asyncio

        await asyncio.to_thread(_audit_replay, caller, sent)
    return sent


def _audit_replay(caller: Caller, sent: list[DeadLetterRecord]) -> None:
    with control_plane(caller) as conn:
        for r in sent:
            if r.letter.tenant:
                audit(
                    conn,
                    caller,
                    "dlq.replayed",
                    tenant=r.letter.tenant,
                    target=f"dead-letter:{r.position}",
                    after={"source_topic": r.letter.source_topic, "file_url": r.letter.file_url},
                )
