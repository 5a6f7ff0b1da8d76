"""Errors of the GitHub sink, as kinds of :mod:`cloudops.errors`.

* :class:`GitHubError` - GitHub refused the request (401, 403, 404, 409, 422, other 4xx);
  never retried. Carries GitHub's ``message``, its ``errors`` list and the request.
* :class:`GitHubAuthError` - 401 (token wrong or expired) or 403 without rate limiting
  (token lacks permission): a :class:`~cloudops.errors.ConfigError` too.
* :class:`GitHubRateLimitError` - rate limited and the reset is further away than we wait,
  or attempts ran out: a :class:`~cloudops.errors.TransientError` with ``retry_after``.
* :class:`GitHubUnavailableError` - 5xx, 429 without rate-limit headers, network errors or
  timeouts after bounded retries: a :class:`~cloudops.errors.TransientError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cloudops.errors import CloudopsError, ConfigError, TransientError

__all__ = ["GitHubAuthError", "GitHubError", "GitHubRateLimitError", "GitHubUnavailableError"]


class GitHubError(CloudopsError):
    """GitHub answered ``status`` with ``message`` (its own words) to ``method url``; not retried."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str,
        url: str,
        errors: Sequence[Mapping[str, Any]] = (),
        documentation_url: str | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.method = method
        self.url = url
        self.errors = tuple(dict(e) for e in errors)
        self.documentation_url = documentation_url
        details = "; ".join(_describe(e) for e in self.errors)
        super().__init__(f"GitHub {status} on {method} {url}: {message}" + (f" ({details})" if details else ""))


class GitHubAuthError(GitHubError, ConfigError):
    """401 Bad credentials, or 403 without rate limiting: fix the token or its permissions."""


class GitHubRateLimitError(TransientError):
    """Rate limited; ``retry_after`` seconds until GitHub accepts requests again."""

    def __init__(self, message: str, *, retry_after: float, method: str, url: str) -> None:
        self.retry_after = retry_after
        self.method = method
        self.url = url
        super().__init__(message)


class GitHubUnavailableError(TransientError):
    """GitHub (or the network to it) failed ``attempts`` times; ``status`` None for network errors."""

    def __init__(self, message: str, *, status: int | None, method: str, url: str) -> None:
        self.status = status
        self.method = method
        self.url = url
        super().__init__(message)


def _describe(error: Mapping[str, Any]) -> str:
    if error.get("message"):
        return str(error["message"])
    parts = [str(error[k]) for k in ("resource", "field", "code") if error.get(k)]
    return " ".join(parts)
