"""Bounded exponential backoff for transient failures."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from cloudops.errors import TransientError, classify
from cloudops.metrics import RETRIES

__all__ = ["RetriesExhausted", "with_retries"]

T = TypeVar("T")
log = logging.getLogger(__name__)


class RetriesExhausted(TransientError):
    """A transient failure persisted through every attempt."""

    def __init__(self, what: str, attempts: int, last: BaseException) -> None:
        self.attempts = attempts
        self.last = last
        super().__init__(f"{what}: gave up after {attempts} attempts: {last}")


async def with_retries(
    fn: Callable[[], Awaitable[T]],
    *,
    what: str,
    attempts: int,
    base_s: float,
    max_s: float,
    budget_s: float | None = None,
) -> T:
    """Await ``fn()``; on a transient error wait base*2^n (capped at max) and try again.

    Bad data and bugs propagate at once. After ``attempts`` transient failures raises
    RetriesExhausted (itself transient) carrying the last error. With ``budget_s``, the
    attempts are not counted: retries go on until ``budget_s`` seconds have passed since
    the first failure (an outage shorter than the budget only pauses the caller).
    """
    first_failure: float | None = None
    attempt = 0
    while True:
        attempt += 1
        try:
            return await fn()
        except Exception as exc:
            if classify(exc) != "transient":
                raise
            now = time.monotonic()
            first_failure = now if first_failure is None else first_failure
            out_of_budget = budget_s is not None and now - first_failure >= budget_s
            if (budget_s is None and attempt >= attempts) or out_of_budget:
                raise RetriesExhausted(what, attempt, exc) from exc
            delay = min(max_s, base_s * 2 ** min(attempt - 1, 30))
            RETRIES.labels(what.split(" ", 1)[0]).inc()
            limit = f"{budget_s:.0f}s budget" if budget_s is not None else f"{attempts} attempts"
            brief = str(exc) if len(str(exc)) <= 300 else f"{str(exc)[:300]}..."
            log.warning("%s: attempt %d failed (%s); retrying in %.1fs (%s)", what, attempt, brief, delay, limit)
            await asyncio.sleep(delay)
