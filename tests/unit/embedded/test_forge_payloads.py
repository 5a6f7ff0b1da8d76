"""The forge's JSON bodies validate against githubkit's response models (GitHub's OpenAPI description)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from githubkit.utils import type_validate_python
from githubkit_schemas.latest import models as m

from cloudops.embedded.forge import payloads as p
from cloudops.embedded.forge.git import CommitInfo, GitIdentity, TreeEntry

SITE = p.Site(api="http://127.0.0.1:8123", web="http://127.0.0.1:8123")
WHEN = datetime(2024, 1, 31, 12, 0, tzinfo=UTC)
SHA = "a" * 40


def _owner() -> dict[str, Any]:
    return p.user(SITE, "acme", 1234, kind="Organization")


def _repo(full: bool) -> dict[str, Any]:
    return p.repository(
        SITE,
        owner=_owner(),
        name="infra",
        repo_id=99,
        default_branch="main",
        private=True,
        description=None,
        created_at=WHEN,
        pushed_at=WHEN,
        open_issues=1,
        full=full,
    )


def _pull(simple: bool) -> dict[str, Any]:
    record = {
        "number": 7,
        "id": 700,
        "title": "Move to gp3",
        "body": "Saves money.",
        "state": "open",
        "head": "cloudops/x",
        "base": "main",
        "user": "cloudops-bot",
        "created_at": p.iso(WHEN),
        "updated_at": p.iso(WHEN),
        "closed_at": None,
        "comments": 1,
    }
    stats = p.PullStats(SHA, "b" * 40, commits=1, additions=2, deletions=1, changed_files=1, mergeable=True)
    label = p.label(SITE, "acme/infra", {"id": 5, "name": "finops", "color": "ededed"})
    author = p.user(SITE, "cloudops-bot", 42)
    return p.pull_request(
        SITE, record=record, repo=_repo(False), author=author, labels=[label], stats=stats, simple=simple
    )


def test_full_repository() -> None:
    repo = type_validate_python(m.FullRepository, _repo(True))
    assert repo.default_branch == "main"
    assert repo.full_name == "acme/infra"
    assert repo.owner.type == "Organization"


def test_git_objects() -> None:
    ref = type_validate_python(m.GitRef, p.git_ref(SITE, "acme/infra", "refs/heads/main", SHA, "commit"))
    assert ref.object_.sha == SHA
    assert ref.url == "http://127.0.0.1:8123/repos/acme/infra/git/refs/heads/main"
    who = GitIdentity("Dev", "dev@example.com", WHEN)
    commit = CommitInfo(SHA, "c" * 40, ("b" * 40,), who, who, "Move to gp3\n")
    parsed = type_validate_python(m.GitCommit, p.git_commit(SITE, "acme/infra", commit))
    assert parsed.tree.sha == "c" * 40
    assert [x.sha for x in parsed.parents] == ["b" * 40]
    assert parsed.author.date == WHEN
    assert type_validate_python(m.ShortBlob, p.short_blob(SITE, "acme/infra", SHA)).sha == SHA
    entries = [TreeEntry("100644", "blob", SHA, "main.tf", 12), TreeEntry("040000", "tree", "d" * 40, "modules")]
    tree = type_validate_python(m.GitTree, p.git_tree(SITE, "acme/infra", "e" * 40, entries))
    assert [(e.path, e.type) for e in tree.tree] == [("main.tf", "blob"), ("modules", "tree")]
    assert tree.tree[0].size == 12


@pytest.mark.parametrize("simple", [False, True])
def test_pull_request(simple: bool) -> None:
    model = m.PullRequestSimple if simple else m.PullRequest
    pr = type_validate_python(model, _pull(simple))
    assert pr.number == 7
    assert pr.head.ref == "cloudops/x"
    assert pr.head.sha == SHA
    assert pr.base.repo.full_name == "acme/infra"
    assert [label.name for label in pr.labels] == ["finops"]
    if not simple:
        assert isinstance(pr, m.PullRequest)
        assert (pr.additions, pr.deletions, pr.changed_files, pr.commits, pr.comments) == (2, 1, 1, 1, 1)


def test_label_and_comment() -> None:
    label = type_validate_python(m.Label, p.label(SITE, "acme/infra", {"id": 5, "name": "finops"}))
    assert label.color == "ededed"
    comment = type_validate_python(
        m.IssueComment,
        p.issue_comment(
            SITE,
            "acme/infra",
            7,
            {"id": 9, "body": "Superseded.", "created_at": p.iso(WHEN)},
            p.user(SITE, "cloudops-bot", 42),
        ),
    )
    assert comment.body == "Superseded."
    assert comment.html_url.endswith("/acme/infra/pull/7#issuecomment-9")


def test_contents() -> None:
    data = b'resource "x" "y" {}\n' * 10
    body = p.content_entry(SITE, "acme/infra", "main", TreeEntry("100644", "blob", SHA, "a/main.tf", len(data)), data)
    file = type_validate_python(m.ContentFile, body)
    assert base64.b64decode(file.content) == data
    assert all(len(line) <= 60 for line in file.content.splitlines())  # wrapped like GitHub
    item = p.content_entry(SITE, "acme/infra", "main", TreeEntry("040000", "tree", SHA, "a/modules"))
    listing = type_validate_python(list[m.ContentDirectoryItems], [item])
    assert listing[0].type == "dir"


def test_errors() -> None:
    basic = type_validate_python(m.BasicError, p.basic_error("Bad credentials", 401))
    assert (basic.message, basic.status) == ("Bad credentials", "401")
    err = type_validate_python(
        m.ValidationError, p.validation_error([{"resource": "PullRequest", "field": "head", "code": "invalid"}])
    )
    assert err.message == "Validation Failed"
    assert err.errors is not None
    assert err.errors[0].code == "invalid"
