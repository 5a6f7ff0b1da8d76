"""cloudops.topics.retry: bounded exponential backoff for transient failures only."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cloudops.errors import BadDataError, TransientError, classify
from cloudops.topics import retry as retry_module
from cloudops.topics.retry import RetriesExhausted, with_retries


class Flaky:
    """Fails with the given exceptions in turn, then returns ``value``."""

    def __init__(self, *failures: BaseException, value: str = "ok") -> None:
        self.failures = list(failures)
        self.value = value
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return self.value


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the backoff delays instead of waiting them out."""
    recorded: list[float] = []

    async def fake_sleep(delay: float) -> None:
        recorded.append(delay)

    # Replace only the module's view of asyncio, not asyncio.sleep for the whole event loop.
    monkeypatch.setattr(retry_module, "asyncio", SimpleNamespace(sleep=fake_sleep))
    return recorded


async def test_transient_then_success() -> None:
    fn = Flaky(TransientError("503"), ConnectionError("reset"), value="done")
    result = await with_retries(fn, what="upload", attempts=5, base_s=0.001, max_s=0.01)
    assert result == "done"
    assert fn.calls == 3


async def test_first_try_success_does_not_sleep(sleeps: list[float]) -> None:
    fn = Flaky(value=42)  # type: ignore[arg-type]
    assert await with_retries(fn, what="x", attempts=3, base_s=0.001, max_s=0.01) == 42
    assert fn.calls == 1
    assert sleeps == []


async def test_exhausted() -> None:
    errors = [TimeoutError(f"t{i}") for i in range(3)]
    fn = Flaky(*errors)
    with pytest.raises(RetriesExhausted) as info:
        await with_retries(fn, what="insert batch", attempts=3, base_s=0.001, max_s=0.01)
    err = info.value
    assert fn.calls == 3
    assert err.attempts == 3
    assert err.last is errors[-1]
    assert err.__cause__ is errors[-1]
    assert str(err) == "insert batch: gave up after 3 attempts: t2"
    assert isinstance(err, TransientError)
    assert classify(err) == "transient"


async def test_single_attempt_gives_up_at_once(sleeps: list[float]) -> None:
    fn = Flaky(TransientError("down"))
    with pytest.raises(RetriesExhausted) as info:
        await with_retries(fn, what="x", attempts=1, base_s=0.001, max_s=0.01)
    assert info.value.attempts == 1
    assert fn.calls == 1
    assert sleeps == []


async def test_bad_data_is_not_retried(sleeps: list[float]) -> None:
    bad = BadDataError("not a CSV", source="s3://b/k")
    fn = Flaky(bad)
    with pytest.raises(BadDataError) as info:
        await with_retries(fn, what="parse", attempts=5, base_s=0.001, max_s=0.01)
    assert info.value is bad
    assert fn.calls == 1
    assert sleeps == []


async def test_bug_is_not_retried(sleeps: list[float]) -> None:
    fn = Flaky(KeyError("oops"))
    with pytest.raises(KeyError):
        await with_retries(fn, what="x", attempts=5, base_s=0.001, max_s=0.01)
    assert fn.calls == 1
    assert sleeps == []


async def test_bad_data_after_transient_stops(sleeps: list[float]) -> None:
    fn = Flaky(ConnectionError("x"), BadDataError("bad"))
    with pytest.raises(BadDataError):
        await with_retries(fn, what="x", attempts=5, base_s=0.001, max_s=0.01)
    assert fn.calls == 2
    assert sleeps == [0.001]


async def test_backoff_doubles_and_is_capped(sleeps: list[float]) -> None:
    fn = Flaky(*[TransientError(str(i)) for i in range(6)])
    with pytest.raises(RetriesExhausted):
        await with_retries(fn, what="x", attempts=6, base_s=0.001, max_s=0.005)
    assert sleeps == [0.001, 0.002, 0.004, 0.005, 0.005]  # no sleep after the last attempt
    assert fn.calls == 6


async def test_real_sleep_is_short() -> None:
    # No patching: the delays really are awaited and the call still finishes quickly.
    fn = Flaky(TransientError("a"), TransientError("b"), value="v")
    assert await with_retries(fn, what="x", attempts=3, base_s=0.001, max_s=0.002) == "v"


async def test_budget_retries_past_the_attempt_count_until_the_outage_ends() -> None:
    # Ten failures with attempts=2: without a budget this would give up after two.
    fn = Flaky(*[ConnectionError(f"refused {i}") for i in range(10)], value="back")
    assert await with_retries(fn, what="insert", attempts=2, base_s=0.001, max_s=0.002, budget_s=30) == "back"
    assert fn.calls == 11


async def test_budget_exhausted_raises_with_the_attempts_made() -> None:
    fn = Flaky(*[TimeoutError("down")] * 1000)
    with pytest.raises(RetriesExhausted) as info:
        await with_retries(fn, what="insert", attempts=2, base_s=0.01, max_s=0.01, budget_s=0.05)
    assert info.value.attempts > 2
    assert fn.calls == info.value.attempts
