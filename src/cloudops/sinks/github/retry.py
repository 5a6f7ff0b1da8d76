"""When to retry a GitHub request, how long to wait, and what to raise when we stop.

:class:`RetryPolicy` is plugged into githubkit as its ``auto_retry`` decision function, so
every REST call is retried inside githubkit:

* primary rate limit (403 + ``x-ratelimit-remaining: 0``) waits until ``x-ratelimit-reset``;
  secondary rate limit (``retry-after``) waits that long. A wait longer than
  ``rate_limit_max_wait`` is not slept at all: we give up at once with
  :class:`~cloudops.sinks.github.errors.GitHubRateLimitError` (the caller retries later).
* 5xx, 429 without rate-limit headers, connection errors and timeouts: exponential backoff
  ``backoff_base * 2**n`` capped at ``backoff_max``, with jitter (50-100 % of the delay).
* anything else (401, 403, 404, 409, 422 ...) is never retried.

At most ``max_attempts`` attempts per request in total. :func:`translate` turns the
githubkit exception of the last attempt into a cloudops error with GitHub's message.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from githubkit.exception import (
    GitHubException,
    PrimaryRateLimitExceeded,
    RateLimitExceeded,
    RequestError,
    RequestFailed,
    RequestTimeout,
)
from githubkit.retry import RetryOption

from cloudops.errors import CloudopsError
from cloudops.sinks.github.errors import (
    GitHubAuthError,
    GitHubError,
    GitHubRateLimitError,
    GitHubUnavailableError,
)

__all__ = ["RetryPolicy", "is_retryable_status", "translate"]

_log = logging.getLogger(__name__)

_MIN_WAIT = 0.01  # githubkit treats a zero wait as "no value" and would sleep 60 s


def is_retryable_status(status: int) -> bool:
    """5xx and 429 are worth another attempt; other statuses are answers."""
    return status >= 500 or status == 429


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries for one GitHub request (see the module docstring)."""

    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    rate_limit_max_wait: float = 60.0
    jitter: bool = True
    rng: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.backoff_base <= 0 or self.backoff_max <= 0 or self.rate_limit_max_wait < 0:
            raise ValueError("backoff_base and backoff_max must be > 0, rate_limit_max_wait >= 0")

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0 = the first retry) after a 5xx/network error."""
        delay: float = min(self.backoff_base * 2.0**retry, self.backoff_max)
        if self.jitter:
            delay *= 0.5 + self.rng() / 2
        return max(delay, _MIN_WAIT)

    def delay(self, exc: GitHubException, retry: int) -> float | None:
        """Seconds to wait before retrying after ``exc`` (``retry`` retries done so far); None = stop."""
        exc = _unwrap(exc)
        if retry + 1 >= self.max_attempts:
            return None
        if isinstance(exc, RateLimitExceeded):
            wait = exc.retry_after.total_seconds()
            return max(wait, _MIN_WAIT) if wait <= self.rate_limit_max_wait else None
        if isinstance(exc, RequestFailed):
            return self.backoff(retry) if is_retryable_status(exc.response.status_code) else None
        if isinstance(exc, RequestError):  # connection refused/reset, timeouts
            return self.backoff(retry)
        return None

    def __call__(self, exc: GitHubException, retry_count: int) -> RetryOption:
        """githubkit's ``auto_retry`` hook."""
        wait = self.delay(exc, retry_count)
        if wait is None:
            return RetryOption(False)
        _log.warning("GitHub %s; retry %d in %.2fs", _summary(exc), retry_count + 1, wait)
        return RetryOption(True, timedelta(seconds=wait))


def _unwrap(exc: GitHubException) -> GitHubException:
    """The answer that failed inside the auth flow (a GitHub App's installation-token request,
    which githubkit reports as a RequestError around it), else ``exc``."""
    if isinstance(exc, RequestError) and isinstance(exc.exc, GitHubException):
        return _unwrap(exc.exc)
    return exc


def translate(exc: GitHubException) -> CloudopsError:
    """The cloudops error for the githubkit exception of a request's last attempt."""
    exc = _unwrap(exc)
    method, url = _request_of(exc)
    if isinstance(exc, RateLimitExceeded):
        kind = "primary" if isinstance(exc, PrimaryRateLimitExceeded) else "secondary"
        seconds = exc.retry_after.total_seconds()
        return GitHubRateLimitError(
            f"GitHub {kind} rate limit on {method} {url}: {_body(exc).get('message', 'rate limited')} "
            f"(retry after {seconds:.0f}s)",
            retry_after=seconds,
            method=method,
            url=url,
        )
    if isinstance(exc, RequestFailed):
        status = exc.response.status_code
        body = _body(exc)
        message = str(body.get("message") or exc.response.reason_phrase or "request failed")
        if is_retryable_status(status):
            return GitHubUnavailableError(
                f"GitHub {status} on {method} {url}: {message}; giving up after bounded retries",
                status=status,
                method=method,
                url=url,
            )
        errors = body.get("errors")
        cls = GitHubAuthError if status in (401, 403) else GitHubError
        return cls(
            message,
            status=status,
            method=method,
            url=url,
            errors=[e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else (),
            documentation_url=body.get("documentation_url"),
        )
    if isinstance(exc, RequestError):
        what = "timed out" if isinstance(exc, RequestTimeout) else f"failed: {exc.exc!r}"
        return GitHubUnavailableError(
            f"GitHub request {method} {url} {what}; giving up after bounded retries",
            status=None,
            method=method,
            url=url,
        )
    return GitHubUnavailableError(f"GitHub client error: {exc!r}", status=None, method=method, url=url)


def _request_of(exc: GitHubException) -> tuple[str, str]:
    if isinstance(exc, RequestFailed):
        return exc.request.method, str(exc.request.url)
    if isinstance(exc, RequestError):
        request = getattr(exc.exc, "request", None)
        try:
            return str(request.method), str(request.url)  # type: ignore[union-attr]
        except (AttributeError, RuntimeError):
            return "?", "?"
    return "?", "?"


def _body(exc: RequestFailed) -> dict[str, Any]:
    try:
        body = exc.response.raw_response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _summary(exc: GitHubException) -> str:
    method, url = _request_of(exc)
    if isinstance(exc, RequestFailed):
        return f"{exc.response.status_code} on {method} {url}"
    return f"{type(exc).__name__} on {method} {url}"
