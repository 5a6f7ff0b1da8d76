"""Open, update and close Terraform pull requests over GitHub's REST API (githubkit).

:meth:`PullRequestSink.open_or_update` puts a :class:`PullRequestChange` (full new text of
some files) on a branch as one commit on top of the base branch, and makes sure exactly
one open pull request shows it:

1. read the repository's default branch (the base when the change names none), the base
   commit and its tree;
2. when the change carries ``originals`` (the texts it was planned on, e.g. a local
   checkout that may be older than the base), read each file at the base commit through
   the API and carry over only the edited hunks (:func:`~cloudops.sinks.github.hunks.rebase_edit`):
   a teammate's change on the base is never reverted; an edit whose lines changed on
   the base is a ``conflict`` (no commit, no pull request);
3. create one blob per file and a tree on top of the base tree (content-addressed: the
   same change always yields the same tree id);
4. if the branch exists and its commit already has that tree, keep it (no new commit);
   otherwise create a commit whose parent is the base head and create the branch ref, or
   force-update it;
5. find the open pull request whose head is the branch: update its title/body/base where
   they differ, or open one; add missing labels; request ``reviewers`` and add
   ``assignees`` that are not there yet (a reviewer the forge refuses, e.g. not a
   collaborator, is skipped and reported in ``PullRequestResult.skipped``).

Idempotent: repeating a call with the same change against an unchanged base makes no
commit, opens no pull request and sends no PATCH. Blocks (awaits) for the HTTP round
trips; each request is retried per :class:`~cloudops.sinks.github.retry.RetryPolicy`.
Raises :class:`~cloudops.sinks.github.errors.GitHubError` (401/403/404/422...: never
retried, GitHub's message included), :class:`~cloudops.errors.TransientError` subclasses
when retries ran out, :class:`~cloudops.errors.BadDataError` for an invalid change.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast

from githubkit import AppInstallationAuthStrategy, GitHub, Response, TokenAuthStrategy
from githubkit.cache import MemCacheStrategy
from githubkit.exception import GitHubException
from githubkit.utils import UNSET

from cloudops.errors import BadDataError
from cloudops.sinks.github.errors import GitHubError
from cloudops.sinks.github.hunks import HunkConflict, rebase_edit
from cloudops.sinks.github.retry import RetryPolicy, translate
from cloudops.sinks.github.target import AppInstallation, GitHubTarget, RepoRef

__all__ = [
    "DIGEST_MARKER",
    "FINGERPRINT_MARKER",
    "BaseTree",
    "ClosedPullRequest",
    "DigestResult",
    "Outcome",
    "PullRequestChange",
    "PullRequestResult",
    "PullRequestSink",
    "validate_branch",
    "validate_path",
]

T = TypeVar("T")
_Auth = TokenAuthStrategy | AppInstallationAuthStrategy


def _strategy(auth: str | AppInstallation) -> _Auth:
    """githubkit's auth for a target: a token as is; an App installation trades a JWT signed with the
    App's private key for an installation token (``POST /app/installations/{id}/access_tokens``)."""
    if isinstance(auth, AppInstallation):
        return AppInstallationAuthStrategy(auth.app_id, auth.private_key, auth.installation_id)
    return TokenAuthStrategy(auth)


Outcome = Literal["created", "updated", "unchanged", "already_applied", "conflict"]

FINGERPRINT_MARKER = "<!-- cloudops:fingerprint={} -->"
"""Hidden line appended to pull request bodies, naming the recommendation behind it."""

DIGEST_MARKER = "<!-- cloudops:digest={} -->"
"""Hidden line of a digest issue's body, naming its key (e.g. the tenant): one open issue per key."""

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
    file). ``originals`` (same paths) are the texts the change was planned on: when given,
    only the edited hunks are carried onto the base branch's current text (module doc, step
    2); without it, ``files`` replace whole files. ``base`` None means the repository's
    default branch. ``fingerprint`` identifies the recommendation; it is written as a hidden
    marker into the body and as a commit trailer. ``reviewers`` / ``assignees`` are logins
    (e.g. from CODEOWNERS).
    """

    branch: str
    files: Mapping[str, str | None]
    commit_message: str
    title: str
    body: str
    labels: tuple[str, ...] = ()
    base: str | None = None
    fingerprint: str = ""
    originals: Mapping[str, str | None] | None = None
    reviewers: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()

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
        if self.originals is not None and set(self.originals) != set(self.files):
            raise BadDataError("originals must name exactly the changed files")
        for login in (*self.reviewers, *self.assignees):
            if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9._-]+)?", login):
                raise BadDataError(f"invalid reviewer or assignee {login!r}")
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
    is an open pull request for the branch if one exists), ``conflict`` (the base branch
    changed the lines the edit touches: nothing written, ``conflicts`` says where).
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
    conflicts: tuple[str, ...] = ()
    reviewers_requested: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


@dataclass(frozen=True)
class BaseTree:
    """The files of a base branch at one commit, read through the API (:meth:`PullRequestSink.fetch_tree`).

    ``files``: {path: bytes} of every blob up to the size limit; ``skipped``: larger blobs,
    symlinks and submodules, which are not fetched.
    """

    repo: RepoRef
    base: str
    sha: str
    files: Mapping[str, bytes]
    skipped: tuple[str, ...] = ()


@dataclass(frozen=True)
class DigestResult:
    """What :meth:`PullRequestSink.upsert_digest` did: ``created``, ``updated`` or ``unchanged``."""

    repo: RepoRef
    outcome: Literal["created", "updated", "unchanged"]
    number: int
    url: str


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
    """Pull requests on one GitHub-compatible API (``target.base_url`` with ``target.auth``: a token,
    or a GitHub App installation whose installation token is fetched on first use and reused by
    this sink until a minute before it expires).

    Each public call opens one HTTP connection pool and closes it before returning, so an
    instance holds no open resources and may be shared by tasks.
    """

    def __init__(self, target: GitHubTarget, *, retry: RetryPolicy | None = None, timeout: float = 30.0) -> None:
        self.target = target
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        # The installation token of an App target, kept per sink: githubkit's default cache is
        # process-wide and keyed by App and installation id only, not by API root.
        self._token_cache = MemCacheStrategy()

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[GitHub[_Auth]]:
        github = GitHub(
            _strategy(self.target.auth),
            cache_strategy=self._token_cache,
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

            files = dict(change.files)
            if change.originals is not None:
                try:
                    files = await self._rebase(gh, repo, change, base_sha)
                except HunkConflict as exc:
                    pull = await self._find_open(gh, repo, change.branch)
                    return PullRequestResult(
                        repo=repo,
                        outcome="conflict",
                        number=pull.number if pull else None,
                        url=pull.url if pull else None,
                        branch=change.branch,
                        base=base,
                        head_sha=None,
                        tree_sha=base_tree,
                        base_sha=base_sha,
                        commit_created=False,
                        fingerprint=change.fingerprint,
                        conflicts=(str(exc),),
                    )
            entries: list[dict[str, Any]] = []
            for path, text in sorted(files.items()):
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
            requested, skipped = await self._people(gh, repo, pull.number, change) if created else ((), ())

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
                reviewers_requested=requested,
                skipped=skipped,
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

    async def base_head(self, repo: RepoRef, base: str | None = None) -> tuple[str, str]:
        """(base branch, its head commit): ``base`` or the repository's default branch. Two requests at most."""
        async with self._client() as gh:
            rest, o, r = gh.rest, repo.owner, repo.name
            branch = base or (await self._api(rest.repos.async_get(o, r))).parsed_data.default_branch
            sha = (await self._api(rest.git.async_get_ref(o, r, f"heads/{branch}"))).parsed_data.object_.sha
            return branch, sha

    async def fetch_tree(
        self,
        repo: RepoRef,
        base: str,
        sha: str,
        *,
        max_file_bytes: int = 1 << 20,
        max_total_bytes: int = 64 << 20,
        blobs: dict[str, bytes] | None = None,
    ) -> BaseTree:
        """Every file of commit ``sha`` (of branch ``base``) up to ``max_file_bytes`` each: one request per blob.

        ``blobs`` ({blob sha: bytes}) is a cache the caller keeps between calls: blobs in it
        are not fetched again, fetched ones are added, and afterwards it holds exactly this
        tree's blobs (a new commit costs one request per changed file). Raises BadDataError
        when the tree is truncated by the API or the files exceed ``max_total_bytes`` (the
        repository is too large to mirror this way).
        """
        cache = blobs if blobs is not None else {}
        wanted: set[str] = set()
        async with self._client() as gh:
            rest, o, r = gh.rest, repo.owner, repo.name
            tree_sha = (await self._api(rest.git.async_get_commit(o, r, sha))).parsed_data.tree.sha
            tree = (await self._api(rest.git.async_get_tree(o, r, tree_sha, recursive="1"))).parsed_data
            if tree.truncated:
                raise BadDataError(f"{repo}: the tree of {sha} is too large for the API (truncated)")
            files: dict[str, bytes] = {}
            skipped: list[str] = []
            total = 0
            for item in tree.tree:
                path, kind, mode = str(item.path), str(item.type), str(item.mode)
                if kind != "blob":
                    continue
                size = int(item.size or 0) if item.size else 0
                if mode == "120000" or size > max_file_bytes:
                    skipped.append(path)
                    continue
                total += size
                if total > max_total_bytes:
                    raise BadDataError(f"{repo}: more than {max_total_bytes} bytes of files at {sha}")
                blob_sha = str(item.sha)
                wanted.add(blob_sha)
                if blob_sha not in cache:
                    blob = (await self._api(rest.git.async_get_blob(o, r, blob_sha))).parsed_data
                    data = blob.content
                    cache[blob_sha] = base64.b64decode(data) if blob.encoding == "base64" else data.encode()
                files[path] = cache[blob_sha]
            for stale in set(cache) - wanted:
                del cache[stale]
            return BaseTree(repo, base, sha, files, tuple(skipped))

    async def upsert_digest(
        self, repo: RepoRef, key: str, title: str, body: str, *, labels: tuple[str, ...] = ("cloudops",)
    ) -> DigestResult:
        """Keep one open issue per ``key`` whose title and body are ``title`` / ``body`` (updated in place).

        The issue is found by the hidden :data:`DIGEST_MARKER` line among open issues with
        the first of ``labels``. Idempotent: the same text again sends no PATCH.
        """
        if not key or any(c.isspace() or c in "<>-" for c in key) or not title.strip():
            raise BadDataError(f"invalid digest key {key!r} or empty title")
        marker = DIGEST_MARKER.format(key)
        full = body if marker in body else f"{body.rstrip()}\n\n{marker}\n"
        async with self._client() as gh:
            rest, o, r = gh.rest, repo.owner, repo.name
            found: Any = None
            page = 1
            while found is None:
                listed = await self._api(
                    rest.issues.async_list_for_repo(
                        o, r, state="open", labels=labels[0] if labels else UNSET, per_page=100, page=page
                    )
                )
                items = cast(list[Any], listed.parsed_data)
                found = next(
                    (i for i in items if not getattr(i, "pull_request", None) and marker in (i.body or "")), None
                )
                if len(items) < 100:
                    break
                page += 1
            if found is None:
                made = await self._api(
                    rest.issues.async_create(o, r, data={"title": title, "body": full, "labels": list(labels)})
                )
                return DigestResult(repo, "created", int(made.parsed_data.number), str(made.parsed_data.html_url))
            number, url = int(found.number), str(found.html_url)
            if _normalise(found.body or "") == _normalise(full) and found.title == title:
                return DigestResult(repo, "unchanged", number, url)
            await self._api(rest.issues.async_update(o, r, number, data={"title": title, "body": full}))
            return DigestResult(repo, "updated", number, url)

    # -- steps -----------------------------------------------------------------------------------

    async def _base_text(self, gh: GitHub[_Auth], repo: RepoRef, path: str, sha: str) -> str | None:
        """The text of ``path`` at commit ``sha`` (None: no such file), read through the contents API."""
        try:
            resp = await self._api(gh.rest.repos.async_get_content(repo.owner, repo.name, path, ref=sha))
        except GitHubError as exc:
            if exc.status == 404:
                return None
            raise
        doc = resp.json()
        if not isinstance(doc, dict) or doc.get("type") != "file":
            raise BadDataError(f"{path} is not a file on the base branch")
        content = doc.get("content")
        if doc.get("encoding") == "base64" and isinstance(content, str):
            return base64.b64decode(content).decode("utf-8")
        blob = await self._api(gh.rest.git.async_get_blob(repo.owner, repo.name, str(doc["sha"])))
        return base64.b64decode(blob.parsed_data.content).decode("utf-8")

    async def _rebase(
        self, gh: GitHub[_Auth], repo: RepoRef, change: PullRequestChange, base_sha: str
    ) -> dict[str, str | None]:
        """``change.files`` carried onto the base commit's texts, hunk by hunk; raises HunkConflict."""
        assert change.originals is not None
        out: dict[str, str | None] = {}
        for path, new in sorted(change.files.items()):
            original = change.originals[path]
            current = await self._base_text(gh, repo, path, base_sha)
            if new is None or original is None or current is None:
                if current != original:
                    raise HunkConflict(path, "the file was added or deleted on the base branch")
                out[path] = new
                continue
            out[path] = rebase_edit(original, new, current, path=path)
        return out

    async def _people(
        self, gh: GitHub[_Auth], repo: RepoRef, number: int, change: PullRequestChange
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Request reviews and add assignees on a new pull request; (requested, skipped with reasons)."""
        rest, o, r = gh.rest, repo.owner, repo.name
        skipped: list[str] = []
        users = [x for x in change.reviewers if "/" not in x]
        teams = [x.split("/", 1)[1] for x in change.reviewers if "/" in x]
        requested: tuple[str, ...] = ()
        if users or teams:
            try:
                await self._api(
                    rest.pulls.async_request_reviewers(o, r, number, data={"reviewers": users, "team_reviewers": teams})
                )
                requested = change.reviewers
            except GitHubError as exc:
                if exc.status != 422:
                    raise
                skipped.append(f"reviewers {', '.join(change.reviewers)}: {exc.message}")
        if change.assignees:
            try:
                await self._api(
                    rest.issues.async_add_assignees(o, r, number, data={"assignees": list(change.assignees)})
                )
            except GitHubError as exc:
                if exc.status != 422:
                    raise
                skipped.append(f"assignees {', '.join(change.assignees)}: {exc.message}")
        return requested, tuple(skipped)

    async def _find_open(self, gh: GitHub[_Auth], repo: RepoRef, branch: str) -> _Pull | None:
        listed = await self._api(
            gh.rest.pulls.async_list(repo.owner, repo.name, state="open", head=f"{repo.owner}:{branch}")
        )
        found: list[Any] = cast(list[Any], listed.parsed_data)
        pulls = [_Pull.of(pr) for pr in found if pr.head.ref == branch]
        return min(pulls, key=lambda p: p.number) if pulls else None

    async def _branch_sha(self, gh: GitHub[_Auth], repo: RepoRef, branch: str) -> str | None:
        try:
            ref = await self._api(gh.rest.git.async_get_ref(repo.owner, repo.name, f"heads/{branch}"))
        except GitHubError as exc:
            if exc.status == 404:
                return None
            raise
        return ref.parsed_data.object_.sha

    async def _put_branch(
        self,
        gh: GitHub[_Auth],
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
        self, gh: GitHub[_Auth], repo: RepoRef, change: PullRequestChange, base: str
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
        self, gh: GitHub[_Auth], repo: RepoRef, pull: _Pull, change: PullRequestChange, base: str
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
