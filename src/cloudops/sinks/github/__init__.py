"""Terraform pull requests on GitHub (or GitHub Enterprise Server, or a compatible forge) via githubkit.

* :class:`PullRequestSink` - ``open_or_update(repo, change)`` and ``close(repo, pull, comment)``
* :class:`PullRequestChange` / :class:`PullRequestResult` / :class:`ClosedPullRequest` - its values
* :class:`GitHubTarget` / :class:`RepoRef` - where to send them
* :class:`RetryPolicy` - bounded retries for rate limits, 5xx and network errors
* errors: :class:`GitHubError`, :class:`GitHubAuthError`, :class:`GitHubRateLimitError`,
  :class:`GitHubUnavailableError`
"""

from __future__ import annotations

from cloudops.sinks.github.configured import sink_for
from cloudops.sinks.github.errors import (
    GitHubAuthError,
    GitHubError,
    GitHubRateLimitError,
    GitHubUnavailableError,
)
from cloudops.sinks.github.pulls import (
    FINGERPRINT_MARKER,
    ClosedPullRequest,
    Outcome,
    PullRequestChange,
    PullRequestResult,
    PullRequestSink,
)
from cloudops.sinks.github.retry import RetryPolicy
from cloudops.sinks.github.target import GITHUB_API_URL, GitHubTarget, RepoRef

__all__ = [
    "FINGERPRINT_MARKER",
    "GITHUB_API_URL",
    "ClosedPullRequest",
    "GitHubAuthError",
    "GitHubError",
    "GitHubRateLimitError",
    "GitHubTarget",
    "GitHubUnavailableError",
    "Outcome",
    "PullRequestChange",
    "PullRequestResult",
    "PullRequestSink",
    "RepoRef",
    "RetryPolicy",
    "sink_for",
]
