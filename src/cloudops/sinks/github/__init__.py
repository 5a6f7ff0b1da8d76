"""Terraform pull requests on GitHub (or GitHub Enterprise Server, or a compatible forge) via githubkit.

* :class:`PullRequestSink` - ``base_head`` / ``fetch_tree`` (the base branch's files through the API),
  ``open_or_update(repo, change)``, ``close(repo, pull, comment)`` and
  ``upsert_digest(repo, key, title, body)`` (one issue per tenant listing what cannot become a PR)
* :func:`rebase_edit` / :class:`HunkConflict` - carry an edit's hunks onto the base branch's current text
* :class:`PullRequestChange` / :class:`PullRequestResult` / :class:`ClosedPullRequest` - its values
* :class:`GitHubTarget` / :class:`RepoRef` - where to send them; :class:`AppInstallation` - a GitHub App
  installation as credentials (else a token)
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
from cloudops.sinks.github.hunks import HunkConflict, rebase_edit
from cloudops.sinks.github.pulls import (
    DIGEST_MARKER,
    FINGERPRINT_MARKER,
    BaseTree,
    ClosedPullRequest,
    DigestResult,
    Outcome,
    PullRequestChange,
    PullRequestResult,
    PullRequestSink,
)
from cloudops.sinks.github.retry import RetryPolicy
from cloudops.sinks.github.target import GITHUB_API_URL, AppInstallation, GitHubTarget, RepoRef

__all__ = [
    "DIGEST_MARKER",
    "FINGERPRINT_MARKER",
    "GITHUB_API_URL",
    "AppInstallation",
    "BaseTree",
    "ClosedPullRequest",
    "DigestResult",
    "GitHubAuthError",
    "GitHubError",
    "GitHubRateLimitError",
    "GitHubTarget",
    "GitHubUnavailableError",
    "HunkConflict",
    "Outcome",
    "PullRequestChange",
    "PullRequestResult",
    "PullRequestSink",
    "RepoRef",
    "RetryPolicy",
    "rebase_edit",
    "sink_for",
]
