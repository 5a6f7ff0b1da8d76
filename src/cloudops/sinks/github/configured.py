"""The PR sink as configured: the deployment's (``CLOUDOPS_GITHUB__*``, ``CLOUDOPS_TERRAFORM__*``)
or one tenant's Terraform target (repository, API root and credentials - a token or a GitHub App
installation - resolved by the service layer)."""

from __future__ import annotations

from cloudops.settings import GitHubSettings, Settings
from cloudops.sinks.github.pulls import PullRequestSink
from cloudops.sinks.github.retry import RetryPolicy
from cloudops.sinks.github.target import AppInstallation, GitHubTarget, RepoRef

__all__ = ["retry_policy", "sink_for", "sink_for_repository"]


def retry_policy(gh: GitHubSettings) -> RetryPolicy:
    """The deployment's retry policy for GitHub calls (``CLOUDOPS_GITHUB__MAX_ATTEMPTS`` ...)."""
    return RetryPolicy(
        max_attempts=gh.max_attempts,
        backoff_base=gh.backoff_base_s,
        backoff_max=gh.backoff_max_s,
        rate_limit_max_wait=gh.rate_limit_max_wait_s,
    )


def sink_for_repository(
    gh: GitHubSettings, repository: str, auth: str | AppInstallation, *, api_url: str | None = None
) -> tuple[PullRequestSink, RepoRef]:
    """A PR sink for ``repository`` (``owner/name``) on ``api_url`` (default ``github.base_url``)
    authenticating with ``auth`` (a token or an App installation), using the deployment's retry
    policy and timeout. Raises ConfigError for a malformed repository, URL, token or App."""
    repo = RepoRef.parse(repository)
    target = GitHubTarget(base_url=api_url or gh.base_url, auth=auth, owner=repo.owner, repo=repo.name)
    return PullRequestSink(target, retry=retry_policy(gh), timeout=gh.timeout_s), repo


def sink_for(settings: Settings) -> tuple[PullRequestSink, RepoRef] | None:
    """The PR sink and repository from settings, or None when PRs are not configured (token, repo and state).

    No local checkout is needed: changes are planned on the base branch as the API serves it.
    """
    gh = settings.github
    if gh.token is None or not gh.repo or not settings.terraform.state:
        return None
    return sink_for_repository(gh, gh.repo, gh.token.get_secret_value())
