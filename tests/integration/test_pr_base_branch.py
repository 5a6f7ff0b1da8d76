"""A pull request is built on the base branch's current content, never on a stale local checkout.

The local forge (GitHub's REST API over a real bare git repository) holds the shipped sample
Terraform repository; a teammate then changes a tag in ``main.tf`` on ``main``. cloudops still
plans on its older local checkout. The pull request must change only the proposed lines: the
teammate's tag survives on the branch and the PR's full diff (merge base -> head) has no other
line. An edit whose own lines changed on the base is a conflict: no commit, no pull request.
Also here: reviewers and assignees from CODEOWNERS on a new pull request, and the per-tenant
digest issue updated in place.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cloudops.embedded import terraform_sample_repo, terraform_sample_state
from cloudops.embedded.forge import GitIdentity, LocalForge
from cloudops.embedded.forge.git import TreeEdit
from cloudops.schemas.recommendations import AttributeChange, Evidence, Recommendation
from cloudops.sinks.github import (
    DIGEST_MARKER,
    GitHubTarget,
    PullRequestChange,
    PullRequestSink,
    RepoRef,
    RetryPolicy,
)
from cloudops.terraform import NotAddressable, ProposedChange, plan_change

pytestmark = pytest.mark.integration

TOKEN = "forge-token-base-branch"
OWNER, NAME = "acme", "infra"
REPO = RepoRef(OWNER, NAME)


@pytest.fixture
def forge(tmp_path: Path) -> Iterator[LocalForge]:
    f = LocalForge(tmp_path / "forge", token=TOKEN)
    f.create_repository(OWNER, NAME, seed_dir=terraform_sample_repo())
    f.start()
    try:
        yield f
    finally:
        f.stop()


def _sink(forge: LocalForge) -> PullRequestSink:
    policy = RetryPolicy(max_attempts=2, backoff_base=0.01, backoff_max=0.05, rate_limit_max_wait=1)
    return PullRequestSink(GitHubTarget(forge.base_url, TOKEN, OWNER, NAME), retry=policy, timeout=10)


def _git(forge: LocalForge, *args: str) -> str:
    git_dir = forge.repository(OWNER, NAME).path
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True, text=True, check=True).stdout


def _teammate_edits(forge: LocalForge, path: str, old: str, new: str) -> str:
    """Commit ``old`` -> ``new`` in ``path`` on main, as a teammate would; the new main head."""
    git = forge.repository(OWNER, NAME)
    head = _git(forge, "rev-parse", "refs/heads/main").strip()
    text = _git(forge, "show", f"{head}:{path}")
    assert text.count(old) == 1
    blob = git.hash_blob(text.replace(old, new).encode())
    tree = git.write_tree(_git(forge, "rev-parse", "main^{tree}").strip(), [TreeEdit(path, "100644", "blob", blob)])
    commit = git.commit_tree(tree, [head], "Teammate: retag", author=GitIdentity("Dev", "dev@example.com"))
    git.update_ref("refs/heads/main", commit, old=head)
    return commit


def _changed(patch: str) -> list[str]:
    return [ln for ln in patch.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]


def _gp3_rec() -> Recommendation:
    return Recommendation(
        tenant="acme",
        kind="aws-ebs-gp2-to-gp3",
        provider="aws",
        resource_id="vol-0a1b2c3d4e5f60001",
        resource_type="aws_ebs_volume",
        title="Move EBS volume vol-0a1b2c3d4e5f60001 from gp2 to gp3",
        current={"type": "gp2"},
        proposed={"type": "gp3", "throughput": "250"},
        changes=(
            AttributeChange(attribute="type", current="gp2", proposed="gp3"),
            AttributeChange(attribute="throughput", current=None, proposed="250", value_kind="number"),
        ),
        monthly_savings=Decimal("5.00"),
        currency="USD",
        confidence="medium",
        risk="none",
        evidence=Evidence(query="{}", rows=()),
        period="2023-11",
    )


def _planned() -> ProposedChange:
    state: dict[str, Any] = json.loads(terraform_sample_state().read_text(encoding="utf-8"))
    planned = plan_change(terraform_sample_repo(), state, _gp3_rec())
    assert not isinstance(planned, NotAddressable), planned
    return planned


def _change(planned: ProposedChange, **extra: Any) -> PullRequestChange:
    return PullRequestChange(
        branch=planned.branch,
        files=planned.files,
        originals=planned.originals,
        commit_message=planned.commit_message,
        title=planned.title,
        body=planned.body,
        labels=planned.labels,
        fingerprint=planned.fingerprint,
        **extra,
    )


async def test_stale_checkout_never_reverts_a_teammates_change(forge: LocalForge) -> None:
    planned = _planned()  # planned on the local checkout: Team = "storage"
    new_main = _teammate_edits(forge, "main.tf", 'Team = "storage"', 'Team = "platform"')

    result = await _sink(forge).open_or_update(REPO, _change(planned))

    assert result.outcome == "created"
    assert result.base_sha == new_main
    diff = forge.pull_diff(OWNER, NAME, result.number or 0)
    assert diff.commit.parents == (new_main,)
    assert diff.changed_paths == ("main.tf",)
    # The PR's full diff is exactly the proposed lines: nothing else of any file changes.
    assert _changed(diff.patch) == _changed(planned.diff)
    assert any(ln.startswith("+") and '"gp3"' in ln for ln in _changed(diff.patch))
    branch_main = _git(forge, "show", f"{diff.head_sha}:main.tf")
    assert 'Team = "platform"' in branch_main
    assert 'Team = "storage"' not in branch_main
    # Every other file of the branch is byte-identical to the base.
    assert _git(forge, "diff", "--name-only", new_main, diff.head_sha).split() == ["main.tf"]


async def test_whole_file_commit_would_revert_it(forge: LocalForge) -> None:
    """The failure the hunk rebase prevents: whole files from the stale checkout revert the teammate."""
    planned = _planned()
    _teammate_edits(forge, "main.tf", 'Team = "storage"', 'Team = "platform"')
    whole = PullRequestChange(
        branch=planned.branch,
        files=planned.files,
        commit_message=planned.commit_message,
        title=planned.title,
        body=planned.body,
        fingerprint=planned.fingerprint,
    )
    result = await _sink(forge).open_or_update(REPO, whole)
    patch = forge.pull_diff(OWNER, NAME, result.number or 0).patch
    assert '-    Team = "platform"' in _changed(patch)  # the revert hidden in a whole-file commit


async def test_edit_on_lines_changed_on_the_base_is_a_conflict(forge: LocalForge) -> None:
    planned = _planned()
    _teammate_edits(forge, "main.tf", 'type              = "gp2" #', 'type              = "st1" #')

    result = await _sink(forge).open_or_update(REPO, _change(planned))

    assert result.outcome == "conflict"
    assert result.number is None
    assert not result.commit_created
    assert "main.tf" in result.conflicts[0]
    assert "changed on the base branch" in result.conflicts[0]
    assert forge.pull_numbers(OWNER, NAME) == []
    assert planned.branch not in _git(forge, "branch", "--list")


async def test_reviewers_assignees_and_digest_issue(forge: LocalForge) -> None:
    planned = _planned()
    sink = _sink(forge)
    result = await sink.open_or_update(
        REPO, _change(planned, reviewers=("alice", "acme/storage"), assignees=("alice",))
    )
    assert result.outcome == "created"
    assert result.reviewers_requested == ("alice", "acme/storage")
    record = forge.pull_record(OWNER, NAME, result.number or 0)
    assert record["requested_reviewers"] == ["alice"]
    assert record["requested_teams"] == ["storage"]
    assert record["assignees"] == ["alice"]

    first = await sink.upsert_digest(REPO, "acme", "cloudops: savings that need a human", "- one\n")
    again = await sink.upsert_digest(REPO, "acme", "cloudops: savings that need a human", "- one\n")
    changed = await sink.upsert_digest(REPO, "acme", "cloudops: savings that need a human", "- one\n- two\n")
    other = await sink.upsert_digest(REPO, "globex", "cloudops: savings that need a human", "- x\n")
    assert (first.outcome, again.outcome, changed.outcome, other.outcome) == (
        "created",
        "unchanged",
        "updated",
        "created",
    )
    assert first.number == again.number == changed.number != other.number
    assert first.number != result.number  # issues and pull requests share one number sequence
    state = json.loads((forge.root / OWNER / f"{NAME}.forge.json").read_text())
    issue = state["issues"][str(first.number)]
    assert issue["body"].startswith("- one\n- two\n")
    assert DIGEST_MARKER.format("acme") in issue["body"]
    assert "cloudops" in issue["labels"]


async def test_fetch_tree_reads_the_base_branch_through_the_api(forge: LocalForge) -> None:
    new_main = _teammate_edits(forge, "main.tf", 'Team = "storage"', 'Team = "platform"')
    sink = _sink(forge)
    assert await sink.base_head(REPO) == ("main", new_main)
    tree = await sink.fetch_tree(REPO, "main", new_main)
    seed = terraform_sample_repo()
    expected = {p.relative_to(seed).as_posix() for p in seed.rglob("*") if p.is_file()}
    assert set(tree.files) == expected
    assert b'Team = "platform"' in tree.files["main.tf"]
    assert tree.files["variables.tf"] == (seed / "variables.tf").read_bytes()
    # With a blob cache, a new commit fetches only the blobs that changed.
    cache: dict[str, bytes] = {}
    await sink.fetch_tree(REPO, "main", new_main, blobs=cache)
    assert len(cache) == len(expected)
    newer = _teammate_edits(forge, "main.tf", 'Team = "platform"', 'Team = "data"')
    forge.clear_requests()
    again = await sink.fetch_tree(REPO, "main", newer, blobs=cache)
    assert b'Team = "data"' in again.files["main.tf"]
    assert [r.path.rsplit("/git/", 1)[-1].split("/")[0] for r in forge.requests] == ["commits", "trees", "blobs"]
    assert len(cache) == len(expected)  # the old main.tf blob is dropped
    small = await sink.fetch_tree(REPO, "main", new_main, max_file_bytes=200)
    assert "main.tf" in small.skipped
    assert "main.tf" not in small.files
