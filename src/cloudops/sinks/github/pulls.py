"""Open, update and close Terraform pull requests over GitHub's REST API (githubkit).

:meth:`PullRequestSink.open_or_update` puts a :class:`PullRequestChange` (full new text of
some files) on a branch as one commit on top of the base branch, and makes sure exactly
one open pull request shows it:

1. read the repository's default branch (the base when the change names none), the base
   commit and its tree;
2. create one blob per file and a tree on top of the base tree (content-addressed: the
   same change always yields the same tree id);
3. if the branch exists and its commit already has that tree, keep it (no new commit);
   otherwise create a commit whose parent is the base head and create the branch ref, or
   force-update it;
4. find the open pull request whose head is the branch: update its title/body/base where
   they differ, or open one; add missing labels.

Idempotent: repeating a call with the same change against an unchanged base makes no
commit, opens no pull request and sends no PATCH. Blocks (awaits) for the HTTP round
trips; each request is retried per :class:`~cloudops.sinks.github.retry.RetryPolicy`.
Raises :class:`~cloudops.sinks.github.errors.GitHubError` (401/403/404/422...: never
retried, GitHub's message included), :class:`~cloudops.errors.TransientError` subclasses
when retries ran out, :class:`~cloudops.errors.BadDataError` for an invalid change.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast

from githubkit import GitHub, Response, TokenAuthStrategy
from githubkit.exception import GitHubException
from githubkit.utils import UNSET

from cloudops.errors import BadDataError
from cloudops.sinks.github.errors import GitHubError
from cloudops.sinks.github.retry import RetryPolicy, translate
from cloudops.sinks.github.target import GitHubTarget, RepoRef

__all__ = [
    "FINGERPRINT_MARKER",
    "ClosedPullRequest",
    "Outcome",
    "PullRequestChange",
    "PullRequestResult",
    "PullRequestSink",
    "validate_branch",
    "validate_path",
]

T = TypeVar("T")

Outcome = Literal["created", "updated", "unchanged", "already_applied"]

FINGERPRINT_MARKER = "<!-- cloudops:fingerprint={} -->"
"""Hidden line appended to pull request bodies, naming the recommendation behind it."""

_BAD_BRANCH = re.compile(r"(^[-/.])|(\.\.)|(//)|(@\{)|([\x00-\x20\x7f~^:?*\[\\])|([/.]$)|(\.lock$)|(/\.)")


def validate_branch(name: str) -> str:
    """Return ``name`` if git and GitHub accept it as a branch name, else raise BadDataError."""
    if not name or name == "@" or _BAD_BRANCH.search(name) or name.startswith("refs/"):
        raise BadDataError(f"invalid branch name {name!r}")
    return name


def validate_path(path: str) -> str:
    """Return ``path`` if it is a clean relative path inside a repository, else raise BadDataError."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..", ".git") for p in parts) or "\x00" in path:
        raise BadDataError(f"invalid repository path {path!r}")
    return path


@dataclass(frozen=True)
class PullRequestChange:
    """One pull request's worth of change.

    ``files`` maps repository-relative paths to their complete new text (``None`` deletes the
    file). ``base`` None means the repository's default branch. ``fingerprint`` identifies the
    recommendation; it is written as a hidden marker into the body and as a commit trailer.
    """

    branch: str
    files: Mapping[str, str | None]
    commit_message: str
    title: str
    body: str
    labels: tuple[str, ...] = ()
    base: str | None = None
    fingerprint: str = ""

    def __post_init__(self) -> None:
        validate_branch(self.branch)
        if self.base is not None:
            validate_branch(self.base)
        if self.base == self.branch:
            raise BadDataError(f"branch {self.branch!r} cannot be its own base")
        if not self.files:
            raise BadDataError("a pull request change needs at least one file")
        for path in self.files:
            validate_path(path)
        if not self.title.strip() or not self.commit_message.strip():
            raise BadDataError("title and commit message must not be empty")
        for label in self.labels:
            if not label.strip() or len(label) > 50:
                raise BadDataError(f"invalid label {label!r} (1-50 characters)")
        if any(c.isspace() or c in "<>-" for c in self.fingerprint):
            raise BadDataError(f"invalid fingerprint {self.fingerprint!r}")
        object.__setattr__(self, "labels", tuple(dict.fromkeys(self.labels)))

    @property
    def full_body(self) -> str:
        """The pull request body: ``body`` plus the hidden fingerprint marker (when there is a fingerprint)."""
        if not self.fingerprint:
            return self.body
        marker = FINGERPRINT_MARKER.format(self.fingerprint)
        return self.body if marker in self.body else f"{self.body.rstrip()}\n\n{marker}\n"

    @property
    def full_commit_message(self) -> str:
        """The commit message with a ``Cloudops-Fingerprint:`` trailer (when there is a fingerprint)."""
        message = self.commit_message.rstrip() + "\n"
        if self.fingerprint and f"Cloudops-Fingerprint: {self.fingerprint}" not in message:
            message += f"\nCloudops-Fingerprint: {self.fingerprint}\n"
        return message


@dataclass(frozen=True)
class PullRequestResult:
    """What :meth:`PullRequestSink.open_or_update` did.

    ``outcome``: ``created`` (a new pull request), ``updated`` (the existing one got a new
    commit, title, body, base or labels), ``unchanged`` (nothing to do), ``already_applied``
    (the base branch already has these file contents: no commit, no pull request; ``number``
    is an open pull request for the branch if one exists).
    """

    repo: RepoRef
    outcome: Outcome
    number: int | None
    url: str | None
    branch: str
    base: str
    head_sha: str | None
    tree_sha: str
    base_sha: str
    commit_created: bool
    fields_updated: tuple[str, ...] = ()
    labels_added: tuple[str, ...] = ()
    fingerprint: str = ""


@dataclass(frozen=True)
class ClosedPullRequest:
    """What :meth:`PullRequestSink.close` did (``closed_now`` False: it was closed already)."""

    repo: RepoRef
    number: int
    url: str
    branch: str
    closed_now: bool
    commented: bool
    branch_deleted: bool


@dataclass(frozen=True)
class _Pull:
    number: int
    url: str
    state: str
    title: str
    body: str
    base: str
    head: str
    labels: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, pr: Any) -> _Pull:
        """From githubkit's PullRequest or PullRequestSimple."""
        return cls(
            number=int(pr.number),
            url=str(pr.html_url),
            state=str(pr.state),
            title=str(pr.title),
            body=pr.body or "",
            base=str(pr.base.ref),
            head=str(pr.head.ref),
            labels=frozenset(str(label.name) for label in pr.labels),
        )


class PullRequestSink:
    """Pull requests on one GitHub-compatible API (``target.base_url`` with ``target.token``).

    Each public call opens one HTTP connection pool and closes it before returning, so an
    instance holds no open resources and may be shared by tasks.
    """

    def __init__(self, target: GitHubTarget, *, retry: RetryPolicy | None = None, timeout: float = 30.0) -> None:
        self.target = target
        self.retry = retry or RetryPolicy()
        self.timeout = timeout

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[GitHub[TokenAuthStrategy]]:
        github = GitHub(
            self.target.token,
            base_url=self.target.base_url,
            user_agent="cloudops-pr-sink",
            timeout=self.timeout,
            http_cache=False,
            auto_retry=self.retry,
            trust_env=False,
        )
        async with github:
            yield github

    @staticmethod
    async def _api(call: Awaitable[Response[T]]) -> Response[T]:
        try:
            return await call
        except GitHubException as exc:
            raise translate(exc) from exc

    async def open_or_update(self, repo: RepoRef, change: PullRequestChange) -> PullRequestResult:
        """Make ``change`` the content of ``change.branch`` and of one open pull request (module docstring)."""
        async with self._client() as gh:
            rest, o, r = gh.rest, repo.owner, repo.name
            base = change.base or (await self._api(rest.repos.async_get(o, r))).parsed_data.default_branch
            base_sha = (await self._api(rest.git.async_get_ref(o, r, f"heads/{base}"))).parsed_data.object_.sha
            base_tree = (await self._api(rest.git.async_get_commit(o, r, base_sha))).parsed_data.tree.sha

            entries: list[dict[str, Any]] = []
            for path, text in sorted(change.files.items()):
                if text is None:
                    entries.append({"path": path, "mode": "100644", "type": "blob", "sha": None})
                    continue
                blob = await self._api(rest.git.async_create_blob(o, r, content=text, encoding="utf-8"))
                entries.append({"path": path, "mode": "100644", "type": "blob", "sha": blob.parsed_data.sha})
            tree_sha = (
                await self._api(rest.git.async_create_tree(o, r, base_tree=base_tree, tree=entries))  # type: ignore[arg-type]
            ).parsed_data.sha

            pull = await self._find_open(gh, repo, change.branch)
            if tree_sha == base_tree:
                return PullRequestResult(
                    repo=repo,
                    outcome="already_applied",
                    number=pull.number if pull else None,
                    url=pull.url if pull else None,
                    branch=change.branch,
                    base=base,
                    head_sha=None,
                    tree_sha=tree_sha,
                    base_sha=base_sha,
                    commit_created=False,
                    fingerprint=change.fingerprint,
                )

            head_sha, commit_created = await self._put_branch(gh, repo, change, base_sha, tree_sha)

            fields_updated: tuple[str, ...] = ()
            if pull is None:
                pull, created = await self._create_pull(gh, repo, change, base)
            else:
                created = False
            if not created:
                pull, fields_updated = await self._update_pull(gh, repo, pull, change, base)

            missing = [label for label in change.labels if label not in pull.labels]
            if missing:
                await self._api(rest.issues.async_add_labels(o, r, pull.number, labels=missing))

            if created:
                outcome: Outcome = "created"
            elif commit_created or fields_updated or missing:
                outcome = "updated"
            else:
                outcome = "unchanged"
            return PullRequestResult(
                repo=repo,
                outcome=outcome,
                number=pull.number,
                url=pull.url,
                branch=change.branch,
                base=base,
                head_sha=head_sha,
                tree_sha=tree_sha,
                base_sha=base_sha,
                commit_created=commit_created,
                fields_updated=fields_updated,
                labels_added=tuple(missing),
                fingerprint=change.fingerprint,
            )

    async def close(
        self,
        repo: RepoRef,
        pull: int | str,
        comment: str | None = None,
        *,
        delete_branch: bool = False,
    ) -> ClosedPullRequest | None:
        """Close pull request ``pull`` (a number, or the branch of an open pull request), commenting first.

        Returns None when ``pull`` is a branch without an open pull request. A pull request that
        is closed already gets no comment and no PATCH (idempotent). ``delete_branch`` deletes
        its branch (a branch that is gone already is fine).
        """
        async with self._client() as gh:
            rest, o, r = gh.rest, repo.owner, repo.name
            if isinstance(pull, int):
                found: _Pull | None = _Pull.of((await self._api(rest.pulls.async_get(o, r, pull))).parsed_data)
            else:
                found = await self._find_open(gh, repo, validate_branch(pull))
            if found is None:
                return None
            closed_now = commented = False
            if found.state == "open":
                if comment:
                    await self._api(rest.issues.async_create_comment(o, r, found.number, body=comment))
                    commented = True
                await self._api(rest.pulls.async_update(o, r, found.number, state="closed"))
                closed_now = True
            deleted = False
            if delete_branch:
                try:
                    await self._api(rest.git.async_delete_ref(o, r, f"heads/{found.head}"))
                    deleted = True
                except GitHubError as exc:
                    if exc.status != 422:  # 422 Reference does not exist: already gone
                        raise
            return ClosedPullRequest(repo, found.number, found.url, found.head, closed_now, commented, deleted)

    # -- steps -----------------------------------------------------------------------------------

    async def _find_open(self, gh: GitHub[TokenAuthStrategy], repo: RepoRef, branch: str) -> _Pull | None:
        listed = await self._api(
            gh.rest.pulls.async_list(repo.owner, repo.name, state="open", head=f"{repo.owner}:{branch}")
        )
        found: list[Any] = cast(list[Any], listed.parsed_data)
        pulls = [_Pull.of(pr) for pr in found if pr.head.ref == branch]
        return min(pulls, key=lambda p: p.number) if pulls else None

    async def _branch_sha(self, gh: GitHub[TokenAuthStrategy], repo: RepoRef, branch: str) -> str | None:
        try:
            ref = await self._api(gh.rest.git.async_get_ref(repo.owner, repo.name, f"heads/{branch}"))
        except GitHubError as exc:
            if exc.status == 404:
                return None
            raise
        return ref.parsed_data.object_.sha

    async def _put_branch(
        self,
        gh: GitHub[TokenAuthStrategy],
        repo: RepoRef,
        change: PullRequestChange,
        base_sha: str,
        tree_sha: str,
    ) -> tuple[str, bool]:
        """Point the branch at a commit with ``tree_sha``; (head sha, whether a commit was created)."""
        rest, o, r = gh.rest, repo.owner, repo.name
        current = await self._branch_sha(gh, repo, change.branch)
        if current is not None:
            current_tree = (await self._api(rest.git.async_get_commit(o, r, current))).parsed_data.tree.sha
            if current_tree == tree_sha:
                return current, False
        commit = await self._api(
            rest.git.async_create_commit(o, r, message=change.full_commit_message, tree=tree_sha, parents=[base_sha])
        )
        sha = commit.parsed_data.sha
        if current is None:
            try:
                await self._api(rest.git.async_create_ref(o, r, ref=f"refs/heads/{change.branch}", sha=sha))
                return sha, True
            except GitHubError as exc:
                if exc.status != 422 or "already exists" not in exc.message.lower():
                    raise  # a racing writer created it: fall through to the force update
        await self._api(rest.git.async_update_ref(o, r, f"heads/{change.branch}", sha=sha, force=True))
        return sha, True

    async def _create_pull(
        self, gh: GitHub[TokenAuthStrategy], repo: RepoRef, change: PullRequestChange, base: str
    ) -> tuple[_Pull, bool]:
        """Open the pull request; (it, True). If one appeared meanwhile (422 already exists): (that one, False)."""
        try:
            created = await self._api(
                gh.rest.pulls.async_create(
                    repo.owner,
                    repo.name,
                    title=change.title,
                    head=change.branch,
                    base=base,
                    body=change.full_body,
                )
            )
        except GitHubError as exc:
            if exc.status == 422 and "already exists" in str(exc).lower():
                existing = await self._find_open(gh, repo, change.branch)
                if existing is not None:
                    return existing, False
            raise
        return _Pull.of(created.parsed_data), True

    async def _update_pull(
        self, gh: GitHub[TokenAuthStrategy], repo: RepoRef, pull: _Pull, change: PullRequestChange, base: str
    ) -> tuple[_Pull, tuple[str, ...]]:
        wanted = {"title": change.title, "body": change.full_body, "base": base}
        current = {"title": pull.title, "body": pull.body, "base": pull.base}
        diff = {k: v for k, v in wanted.items() if _normalise(current[k]) != _normalise(v)}
        if not diff:
            return pull, ()
        updated = await self._api(
            gh.rest.pulls.async_update(
                repo.owner,
                repo.name,
                pull.number,
                title=diff.get("title", UNSET),
                body=diff.get("body", UNSET),
                base=diff.get("base", UNSET),
            )
        )
        return _Pull.of(updated.parsed_data), tuple(sorted(diff))


def _normalise(text: str) -> str:
    """GitHub stores bodies with CRLF when edited on the web; compare without line-ending noise."""
    return text.replace("\r\n", "\n").strip()
