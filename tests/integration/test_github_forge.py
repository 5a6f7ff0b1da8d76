"""The GitHub pull-request sink against the local forge (a real bare git repository on 127.0.0.1).

Commits are checked with the git CLI on the bare repository; pull requests through the
forge's REST API with githubkit directly (not through the sink under test).
"""

from __future__ import annotations

import base64
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from githubkit import GitHub
from githubkit.exception import RequestFailed

from cloudops.embedded.forge import GitIdentity, LocalForge
from cloudops.embedded.forge.git import TreeEdit
from cloudops.errors import ConfigError, TransientError
from cloudops.sinks.github import (
    FINGERPRINT_MARKER,
    GitHubAuthError,
    GitHubError,
    GitHubRateLimitError,
    GitHubTarget,
    GitHubUnavailableError,
    PullRequestChange,
    PullRequestSink,
    RepoRef,
    RetryPolicy,
)

pytestmark = pytest.mark.integration

TOKEN = "ghp_forgeTestToken0123456789"
OWNER, NAME = "acme", "infra"
REPO = RepoRef(OWNER, NAME)
BRANCH = "cloudops/ebs-gp3-4f2a9c"
FINGERPRINT = "4f2a9c0d1e2b3a4c5d6e7f80"

MAIN_TF = """\
terraform {
  required_version = ">= 1.5"
}

module "storage" {
  source = "./modules/storage"
  size   = var.data_size
}
"""

VARIABLES_TF = """\
variable "data_size" {
  type    = number
  default = 100
}
"""

VOLUMES_TF = """\
resource "aws_ebs_volume" "data" {
  availability_zone = "eu-west-1a"
  size              = var.size
  type              = "gp2"

  tags = {
    Name = "data"
  }
}

variable "size" {
  type = number
}
"""

VOLUMES_GP3 = VOLUMES_TF.replace('type              = "gp2"', 'type              = "gp3"')
VOLUMES_GP3_IOPS = VOLUMES_GP3.replace(
    '  type              = "gp3"\n', '  type              = "gp3"\n  iops              = 3000\n'
)
VOLUMES_PATH = "modules/storage/volumes.tf"


def _change(**overrides: object) -> PullRequestChange:
    fields: dict[str, object] = {
        "branch": BRANCH,
        "files": {VOLUMES_PATH: VOLUMES_GP3},
        "commit_message": "Move EBS volume data from gp2 to gp3",
        "title": "Move EBS volume data from gp2 to gp3 (saves USD 12.40/month)",
        "body": "gp3 is 20% cheaper than gp2 at the same size.\n\nEvidence: 2023-11 bill.",
        "labels": ("cloudops", "finops"),
        "fingerprint": FINGERPRINT,
    }
    fields.update(overrides)
    return PullRequestChange(**fields)  # type: ignore[arg-type]


@pytest.fixture
def seed_dir(tmp_path: Path) -> Path:
    seed = tmp_path / "seed"
    (seed / "modules" / "storage").mkdir(parents=True)
    (seed / "main.tf").write_text(MAIN_TF)
    (seed / "variables.tf").write_text(VARIABLES_TF)
    (seed / VOLUMES_PATH).write_text(VOLUMES_TF)
    return seed


@pytest.fixture
def forge(tmp_path: Path, seed_dir: Path) -> Iterator[LocalForge]:
    f = LocalForge(tmp_path / "forge", token=TOKEN)
    f.create_repository(OWNER, NAME, seed_dir=seed_dir)
    f.start()
    try:
        yield f
    finally:
        f.stop()


def _sink(forge: LocalForge, *, token: str = TOKEN, max_attempts: int = 4, max_wait: float = 5.0) -> PullRequestSink:
    policy = RetryPolicy(max_attempts=max_attempts, backoff_base=0.01, backoff_max=0.05, rate_limit_max_wait=max_wait)
    return PullRequestSink(GitHubTarget(forge.base_url, token, OWNER, NAME), retry=policy, timeout=10)


def _git(forge: LocalForge, *args: str) -> str:
    """Run the git CLI on the forge's bare repository."""
    git_dir = forge.repository(OWNER, NAME).path
    out = subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True, text=True, check=True)
    return out.stdout


def _client(forge: LocalForge) -> GitHub:  # type: ignore[type-arg]
    return GitHub(TOKEN, base_url=forge.base_url, http_cache=False, auto_retry=False)


def _changed_lines(patch: str) -> list[str]:
    return [
        line
        for line in patch.splitlines()
        if line[:1] in "+-" and not line.startswith("+++") and not line.startswith("---")
    ]


async def test_open_update_and_close_a_pull_request(forge: LocalForge) -> None:
    sink = _sink(forge)
    main_head = _git(forge, "rev-parse", "refs/heads/main").strip()

    first = await sink.open_or_update(REPO, _change())

    assert first.outcome == "created"
    assert first.commit_created
    assert first.number == 1
    assert first.base == "main"
    assert first.base_sha == main_head
    # The real commit on the branch: parent is main's head, exactly one file and one line changed.
    branch_head = _git(forge, "rev-parse", f"refs/heads/{BRANCH}").strip()
    assert branch_head == first.head_sha
    assert _git(forge, "log", "-1", "--format=%P", branch_head).split() == [main_head]
    assert _git(forge, "diff", "--name-only", main_head, branch_head).split() == [VOLUMES_PATH]
    assert _changed_lines(_git(forge, "diff", "-U0", main_head, branch_head)) == [
        '-  type              = "gp2"',
        '+  type              = "gp3"',
    ]
    assert _git(forge, "show", f"{branch_head}:{VOLUMES_PATH}") == VOLUMES_GP3
    assert _git(forge, "show", f"{branch_head}:main.tf") == MAIN_TF
    assert f"Cloudops-Fingerprint: {FINGERPRINT}" in _git(forge, "log", "-1", "--format=%B", branch_head)
    assert first.tree_sha == _git(forge, "rev-parse", f"{branch_head}^{{tree}}").strip()

    # The pull request, as GitHub's API shows it.
    async with _client(forge) as gh:
        listed = (await gh.rest.pulls.async_list(OWNER, NAME, state="open", head=f"{OWNER}:{BRANCH}")).parsed_data
        assert [pr.number for pr in listed] == [1]
        pr = (await gh.rest.pulls.async_get(OWNER, NAME, 1)).parsed_data
    assert pr.state == "open"
    assert pr.head.ref == BRANCH
    assert pr.head.sha == branch_head
    assert pr.base.ref == "main"
    assert pr.base.sha == main_head
    assert sorted(label.name for label in pr.labels) == ["cloudops", "finops"]
    assert pr.title == _change().title
    assert pr.body == _change().full_body
    assert pr.body.startswith("gp3 is 20% cheaper")
    assert FINGERPRINT_MARKER.format(FINGERPRINT) in pr.body
    assert (pr.additions, pr.deletions, pr.changed_files, pr.commits) == (1, 1, 1, 1)
    diff = forge.pull_diff(OWNER, NAME, 1)
    assert diff.changed_paths == (VOLUMES_PATH,)
    assert diff.commit.parents == (main_head,)
    assert _changed_lines(diff.patch) == ['-  type              = "gp2"', '+  type              = "gp3"']

    # Same change again: same pull request, no commit, no write request at all.
    forge.clear_requests()
    second = await sink.open_or_update(REPO, _change())
    assert second.outcome == "unchanged"
    assert (second.number, second.head_sha, second.commit_created) == (1, branch_head, False)
    assert _git(forge, "rev-parse", f"refs/heads/{BRANCH}").strip() == branch_head
    # Only content-addressed writes (blobs, trees) happen again; they change nothing.
    writes = [(r.method, r.path) for r in forge.requests if r.method != "GET"]
    assert {path.rsplit("/git/", 1)[-1] for _, path in writes} == {"blobs", "trees"}
    assert forge.pull_numbers(OWNER, NAME) == [1]

    # New body: the same pull request is edited, still no commit.
    third = await sink.open_or_update(REPO, _change(body="gp3: cheaper, same size, 3000 IOPS baseline."))
    assert (third.outcome, third.number, third.commit_created, third.fields_updated) == ("updated", 1, False, ("body",))
    record = forge.pull_record(OWNER, NAME, 1)
    assert record["body"].startswith("gp3: cheaper, same size, 3000 IOPS baseline.")
    assert record["title"] == _change().title

    # Main moves on and the proposal changes: a new commit on the new main head, force-pushed.
    git = forge.repository(OWNER, NAME)
    readme = git.hash_blob(b"# infra\n")
    new_tree = git.write_tree(
        _git(forge, "rev-parse", "main^{tree}").strip(), [TreeEdit("README.md", "100644", "blob", readme)]
    )
    new_main = git.commit_tree(new_tree, [main_head], "Add README", author=GitIdentity("Dev", "dev@example.com"))
    git.update_ref("refs/heads/main", new_main, old=main_head)
    fourth = await sink.open_or_update(REPO, _change(files={VOLUMES_PATH: VOLUMES_GP3_IOPS}))
    assert (fourth.outcome, fourth.number, fourth.commit_created) == ("updated", 1, True)
    new_head = _git(forge, "rev-parse", f"refs/heads/{BRANCH}").strip()
    assert new_head == fourth.head_sha != branch_head
    assert _git(forge, "log", "-1", "--format=%P", new_head).split() == [new_main]
    assert _git(forge, "rev-list", "--count", f"main..{BRANCH}").strip() == "1"
    assert _changed_lines(_git(forge, "diff", "-U0", new_main, new_head)) == [
        '-  type              = "gp2"',
        '+  type              = "gp3"',
        "+  iops              = 3000",
    ]

    # Superseded: close with a comment; closing again is a no-op.
    closed = await sink.close(REPO, BRANCH, "Superseded by a newer recommendation.")
    assert closed is not None
    assert (closed.number, closed.closed_now, closed.commented) == (1, True, True)
    assert await sink.close(REPO, BRANCH, "again") is None  # no open pull request for the branch any more
    again = await sink.close(REPO, 1, "again")
    assert again is not None
    assert (again.closed_now, again.commented) == (False, False)
    async with _client(forge) as gh:
        pr = (await gh.rest.pulls.async_get(OWNER, NAME, 1)).parsed_data
        comments = (await gh.rest.issues.async_list_comments(OWNER, NAME, 1)).parsed_data
        still_open = (await gh.rest.pulls.async_list(OWNER, NAME, state="open")).parsed_data
    assert pr.state == "closed"
    assert pr.closed_at is not None
    assert [c.body for c in comments] == ["Superseded by a newer recommendation."]
    assert still_open == []

    # Reopening the recommendation later opens a new pull request (the closed one stays closed).
    fifth = await sink.open_or_update(REPO, _change(files={VOLUMES_PATH: VOLUMES_GP3_IOPS}))
    assert (fifth.outcome, fifth.number, fifth.commit_created) == ("created", 2, False)


async def test_state_survives_a_restart_and_base_already_applied(forge: LocalForge, tmp_path: Path) -> None:
    first = await _sink(forge).open_or_update(REPO, _change())
    forge.stop()
    restarted = LocalForge(tmp_path / "forge", token=TOKEN).start()
    try:
        again = await _sink(restarted).open_or_update(REPO, _change())
        assert (again.outcome, again.number, again.head_sha) == ("unchanged", first.number, first.head_sha)
        # The change lands on main: nothing left to propose.
        git = restarted.repository(OWNER, NAME)
        main_head = git.read_ref("refs/heads/main")
        assert main_head is not None
        git.update_ref("refs/heads/main", str(first.head_sha), old=main_head)
        applied = await _sink(restarted).open_or_update(REPO, _change())
        assert (applied.outcome, applied.commit_created, applied.head_sha) == ("already_applied", False, None)
        assert applied.number == first.number  # the still-open pull request, reported not touched
    finally:
        restarted.stop()


async def test_primary_rate_limit_waits_for_the_reset_then_succeeds(forge: LocalForge) -> None:
    forge.inject_fault("rate_limit", 1, reset_in=1)
    started = time.time()
    result = await _sink(forge).open_or_update(REPO, _change())
    assert result.outcome == "created"
    first, retried = forge.requests[0], forge.requests[1]
    assert (first.status, first.fault) == (403, "rate_limit")
    assert (retried.method, retried.path, retried.status) == (first.method, first.path, 200)
    assert time.time() - started >= 0.95  # x-ratelimit-reset was at least a second ahead


async def test_secondary_rate_limit_honours_retry_after(forge: LocalForge) -> None:
    forge.inject_fault("secondary_rate_limit", 1, match=r"^POST .*/git/blobs$", retry_after=1)
    started = time.time()
    result = await _sink(forge).open_or_update(REPO, _change())
    assert result.outcome == "created"
    assert time.time() - started >= 1.0
    blob_posts = [r.status for r in forge.requests if r.path.endswith("/git/blobs")]
    assert blob_posts == [429, 201]


async def test_rate_limit_reset_beyond_the_cap_gives_up_at_once(forge: LocalForge) -> None:
    forge.inject_fault("rate_limit", 1, reset_in=3600)
    started = time.time()
    with pytest.raises(GitHubRateLimitError) as info:
        await _sink(forge, max_wait=5).open_or_update(REPO, _change())
    assert isinstance(info.value, TransientError)
    assert info.value.retry_after > 3000
    assert "API rate limit exceeded" in str(info.value)
    assert time.time() - started < 2
    assert len(forge.requests) == 1


async def test_server_errors_are_retried_with_backoff(forge: LocalForge) -> None:
    forge.inject_fault("server_error", 2, match=r"^POST .*/git/trees$")
    result = await _sink(forge).open_or_update(REPO, _change())
    assert result.outcome == "created"
    assert [r.status for r in forge.requests if r.path.endswith("/git/trees")] == [502, 502, 201]


async def test_persistent_server_errors_raise_a_transient_error_after_bounded_attempts(forge: LocalForge) -> None:
    forge.inject_fault("server_error", 100, match=r"^POST .*/git/trees$")
    with pytest.raises(GitHubUnavailableError) as info:
        await _sink(forge, max_attempts=3).open_or_update(REPO, _change())
    assert isinstance(info.value, TransientError)
    assert info.value.status == 502
    assert "502" in str(info.value)
    assert "/git/trees" in str(info.value)
    assert "Server Error" in str(info.value)
    assert [r.status for r in forge.requests if r.path.endswith("/git/trees")] == [502, 502, 502]
    assert forge.pull_numbers(OWNER, NAME) == []


async def test_validation_failed_is_not_retried(forge: LocalForge) -> None:
    forge.inject_fault("validation", 5, match=r"^POST .*/pulls$", message="Head sha can't be blank")
    with pytest.raises(GitHubError) as info:
        await _sink(forge).open_or_update(REPO, _change())
    assert not isinstance(info.value, TransientError)
    assert info.value.status == 422
    assert info.value.message == "Validation Failed"
    assert info.value.errors[0]["message"] == "Head sha can't be blank"
    assert "Head sha can't be blank" in str(info.value)
    assert [r.status for r in forge.requests if r.method == "POST" and r.path.endswith("/pulls")] == [422]


async def test_a_real_validation_error_carries_githubs_message(forge: LocalForge) -> None:
    with pytest.raises(GitHubError) as info:
        await _sink(forge).open_or_update(REPO, _change(base="release"))
    assert info.value.status == 404  # no such base branch
    assert "Not Found" in str(info.value)


async def test_wrong_token_is_a_clear_configuration_error(forge: LocalForge) -> None:
    with pytest.raises(GitHubAuthError) as info:
        await _sink(forge, token="ghp_wrong").open_or_update(REPO, _change())
    assert isinstance(info.value, ConfigError)
    assert info.value.status == 401
    assert "Bad credentials" in str(info.value)
    assert len(forge.requests) == 1


async def test_forge_refuses_like_github(forge: LocalForge) -> None:
    sink_result = await _sink(forge).open_or_update(REPO, _change())
    main_head = _git(forge, "rev-parse", "refs/heads/main").strip()
    async with _client(forge) as gh:
        with pytest.raises(RequestFailed) as dup:
            await gh.rest.pulls.async_create(OWNER, NAME, title="again", head=BRANCH, base="main")
        assert dup.value.response.status_code == 422
        assert dup.value.response.raw_response.json()["errors"][0]["message"] == (
            f"A pull request already exists for {OWNER}:{BRANCH}."
        )
        with pytest.raises(RequestFailed) as exists:
            await gh.rest.git.async_create_ref(OWNER, NAME, ref=f"refs/heads/{BRANCH}", sha=main_head)
        assert exists.value.response.raw_response.json()["message"] == "Reference already exists"
        with pytest.raises(RequestFailed) as not_ff:
            await gh.rest.git.async_update_ref(OWNER, NAME, f"heads/{BRANCH}", sha=main_head)
        assert not_ff.value.response.raw_response.json()["message"] == "Update is not a fast forward"
        with pytest.raises(RequestFailed) as nothing:
            await gh.rest.pulls.async_create(OWNER, NAME, title="empty", head="main", base=BRANCH)
        assert "No commits between" in nothing.value.response.raw_response.json()["errors"][0]["message"]
        content = (await gh.rest.repos.async_get_content(OWNER, NAME, VOLUMES_PATH, ref=BRANCH)).parsed_data
        assert content.type == "file"
        assert base64.b64decode(content.content).decode() == VOLUMES_GP3
        with pytest.raises(RequestFailed) as garbled:
            await gh.arequest("POST", f"/repos/{OWNER}/{NAME}/git/blobs", content=b"{not json")
        assert garbled.value.response.status_code == 400
        assert garbled.value.response.raw_response.json()["message"] == "Problems parsing JSON"
        with pytest.raises(RequestFailed) as missing:
            await gh.rest.repos.async_get(OWNER, "no-such-repo")
        assert missing.value.response.status_code == 404
    async with GitHub(base_url=forge.base_url, http_cache=False, auto_retry=False) as anonymous:
        with pytest.raises(RequestFailed) as anon:
            await anonymous.rest.repos.async_get(OWNER, NAME)
        assert anon.value.response.status_code == 401
        assert anon.value.response.raw_response.json()["message"] == "Requires authentication"
    assert forge.pull_numbers(OWNER, NAME) == [sink_result.number]


def test_forge_runs_as_a_separate_process(tmp_path: Path, seed_dir: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloudops.embedded.forge",
            "--repo-dir",
            str(tmp_path / "forge"),
            "--token",
            TOKEN,
            "--seed",
            f"{OWNER}/{NAME}={seed_dir}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("forge listening on http://127.0.0.1:")
        base_url = line.rsplit(" ", 1)[-1].strip()
        with GitHub(TOKEN, base_url=base_url, http_cache=False, auto_retry=False) as gh:
            assert gh.rest.repos.get(OWNER, NAME).parsed_data.default_branch == "main"
            # Faults can be queued from another process through the admin endpoint.
            queued = gh.request("POST", "/_forge/faults", json={"kind": "server_error", "count": 1, "status": 503})
            assert queued.status_code == 201
            with pytest.raises(RequestFailed) as failed:
                gh.rest.repos.get(OWNER, NAME)
            assert failed.value.response.status_code == 503
            assert gh.rest.repos.get(OWNER, NAME).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    assert (tmp_path / "forge" / OWNER / f"{NAME}.git" / "HEAD").is_file()
