"""Bounded exponential backoff for transient failures."""

from __future__ import annotations

import asyncio
import logging
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
) -> T:
    """Await ``fn()``; on a transient error wait base*2^n (capped at max) and try again.

    Bad data and bugs propagate at once. After ``attempts`` transient failures raises
    RetriesExhausted (itself transient) carrying the last error.
    """
    for attempt in range(1, attempts + 1):
        try:
            return await fn()
        except Exception as exc:
            if classify(exc) != "transient":
                raise
            if attempt == attempts:
                raise RetriesExhausted(what, attempts, exc) from exc
            delay = min(max_s, base_s * 2 ** (attempt - 1))
            RETRIES.labels(what.split(" ", 1)[0]).inc()
            log.warning("%s: attempt %d/%d failed (%s); retrying in %.1fs", what, attempt, attempts, exc, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")
