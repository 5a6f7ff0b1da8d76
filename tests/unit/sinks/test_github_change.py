"""Values of the GitHub sink: pull request changes, targets, repository references."""

from __future__ import annotations

import pytest

from cloudops.errors import BadDataError, ConfigError
from cloudops.sinks.github import FINGERPRINT_MARKER, GitHubTarget, PullRequestChange, RepoRef
from cloudops.sinks.github.pulls import validate_branch, validate_path


def _change(**kw: object) -> PullRequestChange:
    fields: dict[str, object] = {
        "branch": "cloudops/ebs-gp3",
        "files": {"main.tf": "x = 1\n"},
        "commit_message": "Move to gp3",
        "title": "Move to gp3",
        "body": "Saves money.",
        **kw,
    }
    return PullRequestChange(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["cloudops/ebs-gp3", "feature_1", "a/b/c", "release-2024.01"])
def test_valid_branch_names(name: str) -> None:
    assert validate_branch(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "-x",
        "a..b",
        "a b",
        "a~1",
        "a^",
        "a:b",
        "a?",
        "a*",
        "a[b",
        "a\\b",
        "x/",
        "x.",
        "x.lock",
        "a//b",
        "@",
        "a@{b",
        "/x",
        "a/.b",
        "refs/heads/x",
    ],
)
def test_invalid_branch_names(name: str) -> None:
    with pytest.raises(BadDataError):
        validate_branch(name)


@pytest.mark.parametrize("path", ["", "/etc/passwd", "../x.tf", "a/../b.tf", "a//b.tf", ".git/config", "a/./b", "x/"])
def test_invalid_paths(path: str) -> None:
    with pytest.raises(BadDataError):
        validate_path(path)


def test_change_validation() -> None:
    with pytest.raises(BadDataError, match="at least one file"):
        _change(files={})
    with pytest.raises(BadDataError, match="own base"):
        _change(base="cloudops/ebs-gp3")
    with pytest.raises(BadDataError, match="label"):
        _change(labels=("x" * 51,))
    with pytest.raises(BadDataError, match="empty"):
        _change(title="  ")
    with pytest.raises(BadDataError, match="fingerprint"):
        _change(fingerprint="a -->")


def test_labels_are_deduplicated_in_order() -> None:
    assert _change(labels=("finops", "cloudops", "finops")).labels == ("finops", "cloudops")


def test_fingerprint_marker_is_appended_once() -> None:
    change = _change(fingerprint="abc123")
    marker = FINGERPRINT_MARKER.format("abc123")
    assert change.full_body == f"Saves money.\n\n{marker}\n"
    assert _change(fingerprint="abc123", body=change.full_body).full_body == change.full_body
    assert _change().full_body == "Saves money."


def test_commit_message_trailer() -> None:
    assert _change(fingerprint="abc123").full_commit_message == "Move to gp3\n\nCloudops-Fingerprint: abc123\n"
    assert _change().full_commit_message == "Move to gp3\n"


def test_target_hides_the_token_and_validates() -> None:
    target = GitHubTarget("https://ghe.example.com/api/v3", "ghp_secret", "acme", "infra")
    assert "ghp_secret" not in repr(target)
    assert target.repo_ref == RepoRef("acme", "infra")
    with pytest.raises(ConfigError, match="base URL"):
        GitHubTarget("ftp://x", "t", "acme", "infra")
    with pytest.raises(ConfigError, match="token"):
        GitHubTarget("https://api.github.com", "", "acme", "infra")
    with pytest.raises(ConfigError, match="owner"):
        GitHubTarget("https://api.github.com", "t", "-acme", "infra")


def test_repo_ref_parse() -> None:
    assert RepoRef.parse("acme/infra.git") == RepoRef("acme", "infra")
    assert str(RepoRef.parse(" acme/infra ")) == "acme/infra"
    with pytest.raises(ConfigError):
        RepoRef.parse("infra")
    with pytest.raises(ConfigError):
        RepoRef.parse("acme/in fra")
