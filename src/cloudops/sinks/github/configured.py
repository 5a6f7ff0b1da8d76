"""The PR sink as configured by settings (``CLOUDOPS_GITHUB__*``, ``CLOUDOPS_TERRAFORM__*``)."""

from __future__ import annotations

from cloudops.settings import Settings
from cloudops.sinks.github.pulls import PullRequestSink
from cloudops.sinks.github.retry import RetryPolicy
from cloudops.sinks.github.target import GitHubTarget, RepoRef

__all__ = ["sink_for"]


def sink_for(settings: Settings) -> tuple[PullRequestSink, RepoRef] | None:
    """The PR sink and repository from settings, or None when PRs are not configured (token, repo and state).

    No local checkout is needed: changes are planned on the base branch as the API serves it.
    """
    gh = settings.github
    if gh.token is None or not gh.repo or not settings.terraform.state:
        return None
    repo = RepoRef.parse(gh.repo)
    target = GitHubTarget(base_url=gh.base_url, token=gh.token.get_secret_value(), owner=repo.owner, repo=repo.name)
    retry = RetryPolicy(
        max_attempts=gh.max_attempts,
        backoff_base=gh.backoff_base_s,
        backoff_max=gh.backoff_max_s,
        rate_limit_max_wait=gh.rate_limit_max_wait_s,
    )
    return PullRequestSink(target, retry=retry, timeout=gh.timeout_s), repo
