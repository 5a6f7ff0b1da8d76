"""``parse``: ``billing-files`` (and its retry twin) -> ``focus-batches``, by :mod:`cloudops.ingest.parse`."""

from __future__ import annotations

from typing import Any

from cloudops.ingest.parse import parse_handler, resume_abandoned
from cloudops.topics.lag import LagGate
from cloudops.topics.runtime import Runtime
from cloudops.topics.specs import BILLING_FILES, FOCUS_BATCHES

__all__ = ["register"]


def register(app: Any, rt: Runtime) -> None:
    """Add the parse agent, its retry-topic twin and the takeover of abandoned files to the app."""
    limit = rt.settings.ingest.max_load_lag_batches
    if limit > 0:
        # Bounded in-flight batches: hold publishing while the loaders (same consumer group) lag.
        group = rt.settings.ingest.load_group or rt.settings.app.id
        rt.load_gate = LagGate(rt.settings.kafka, group, [FOCUS_BATCHES.name], limit)
    rt.register(parse_handler(rt), name="cloudops.parse")
    assert BILLING_FILES.retry_topic is not None
    rt.register(parse_handler(rt, retry=True), topic=BILLING_FILES.retry_topic, name="cloudops.parse-retry")
    if rt.ledger is not None and rt.ledger.enabled:

        @app.timer(interval=rt.settings.ingest.claim_lease_s)  # type: ignore[untyped-decorator]
        async def resume() -> None:
            await resume_abandoned(rt)
