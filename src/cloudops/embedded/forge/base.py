"""What every part of the local forge shares: request and answer values, GitHub-shaped errors,
the repository state (:class:`_Repo`), and :class:`ForgeBase` (the payload builders the route
modules use). The server (:mod:`.server`) and the route modules (:mod:`.repos`, :mod:`.pulls`,
:mod:`.issues`, :mod:`.apps`) build on it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from aiohttp import web

from cloudops.embedded.forge import payloads as p
from cloudops.embedded.forge.git import (
    BareRepository,
    CommitInfo,
    TreeEntry,
)

__all__ = ["FaultKind", "ForgeBase", "PullDiff", "RecordedRequest", "Route"]

FaultKind = Literal["rate_limit", "secondary_rate_limit", "server_error", "validation"]
_FAULT_KINDS: tuple[str, ...] = ("rate_limit", "secondary_rate_limit", "server_error", "validation")
_RATE_LIMIT = 5000
_HOST = "127.0.0.1"
_API_VERSION = "2022-11-28"
_OWNER_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_REPO_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")

Json = dict[str, Any]


@dataclass(frozen=True)
class RecordedRequest:
    """One API request the forge answered (``fault`` names the injected fault, if any)."""

    method: str
    path: str
    status: int
    fault: str | None = None


@dataclass(frozen=True)
class PullDiff:
    """A pull request as the bare repository sees it: branch commit, base and the diff between them."""

    number: int
    state: str
    title: str
    body: str | None
    labels: tuple[str, ...]
    head: str
    base: str
    head_sha: str
    base_sha: str
    merge_base: str
    commit: CommitInfo
    changed_paths: tuple[str, ...]
    patch: str


@dataclass
class _Fault:
    kind: str
    remaining: int
    match: re.Pattern[str] | None
    status: int
    retry_after: int
    reset_in: float
    message: str | None


@dataclass(frozen=True)
class _Principal:
    """Who a request authenticates as: the forge's user (every repository) or a GitHub App
    installation (``<slug>[bot]``, only the repositories it is installed on)."""

    actor: str
    repositories: frozenset[str] | None = None  # lower-case ``owner/name``; None: all

    def may_access(self, full_name: str) -> bool:
        return self.repositories is None or full_name.lower() in self.repositories


_PRINCIPAL = web.RequestKey("forge.principal", _Principal)  # where the middleware leaves it


@dataclass
class _Call:
    """A parsed request handed to a synchronous handler; ``actor`` is the login it acts as."""

    method: str
    params: Mapping[str, str]
    query: Mapping[str, str]
    body: Any
    principal: _Principal
    outbox: list[Any] = field(default_factory=list)
    """Webhook deliveries the handler queued (:mod:`.hooks`); sent once it has answered and the lock is free."""

    @property
    def actor(self) -> str:
        return self.principal.actor


@dataclass
class _Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class _ApiError(Exception):
    def __init__(self, status: int, body: Json, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def _not_found(doc: str = p.DOCS) -> _ApiError:
    return _ApiError(404, p.basic_error("Not Found", 404, doc))


def _invalid(resource: str, field_name: str, code: str = "invalid", message: str | None = None) -> _ApiError:
    error: Json = {"resource": resource, "field": field_name, "code": code}
    if message:
        error["message"] = message
    return _ApiError(422, p.validation_error([error]))


def _custom(resource: str, message: str, doc: str = p.DOCS) -> _ApiError:
    return _ApiError(422, p.validation_error([{"resource": resource, "code": "custom", "message": message}], doc))


def _unprocessable(message: str, doc: str = p.DOCS) -> _ApiError:
    return _ApiError(422, p.basic_error(message, 422, doc))


def _stable_int(*parts: object, modulo: int = 900_000_000) -> int:
    digest = hashlib.sha1("\x1f".join(map(str, parts)).encode()).digest()
    return 1_000_000 + int.from_bytes(digest[:8], "big") % modulo


def _now_iso() -> str:
    return p.iso(datetime.now(UTC))


class _Repo:
    """A bare repository plus its forge state file (loaded once, written through on every change)."""

    def __init__(self, root: Path, owner: str, name: str) -> None:
        self.owner = owner
        self.name = name
        self.git = BareRepository(root / owner / f"{name}.git")
        self.state_path = root / owner / f"{name}.forge.json"
        self._state: Json | None = None

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def state(self) -> Json:
        if self._state is None:
            if self.state_path.exists():
                self._state = json.loads(self.state_path.read_text())
            else:
                self._state = self.fresh_state()
                self.save()
        return self._state

    def fresh_state(self, *, private: bool = True, description: str | None = None) -> Json:
        now = _now_iso()
        repo_id = _stable_int(self.full_name)
        return {
            "id": repo_id,
            "private": private,
            "description": description,
            "created_at": now,
            "pushed_at": now,
            "next_number": 1,
            "next_id": repo_id * 10,
            "pulls": {},
            "issues": {},
            "labels": {},
            "comments": {},
        }

    def next_id(self) -> int:
        value = int(self.state["next_id"])
        self.state["next_id"] = value + 1
        return value

    def save(self) -> None:
        tmp = self.state_path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(self._state, indent=1, sort_keys=True))
        os.replace(tmp, self.state_path)

    def pull(self, number: str | int) -> Json:
        """The stored record of pull request ``number`` (mutable: change it, then :meth:`save`); 404 if none."""
        record: Json | None = self.state["pulls"].get(str(number))
        if record is None:
            raise _not_found("https://docs.github.com/rest/pulls/pulls#get-a-pull-request")
        return record

    def issue(self, number: str | int) -> Json:
        """The stored record of issue ``number`` (not a pull request); 404 if none."""
        record: Json | None = self.state.setdefault("issues", {}).get(str(number))
        if record is None:
            raise _not_found("https://docs.github.com/rest/issues/issues#get-an-issue")
        return record

    def issue_or_pull(self, number: str | int) -> Json:
        """An issue's or a pull request's record (they share one number sequence, as on GitHub); 404 if none."""
        found: Json | None = self.state["pulls"].get(str(number)) or self.state.setdefault("issues", {}).get(
            str(number)
        )
        if found is None:
            raise _not_found("https://docs.github.com/rest/issues/issues#get-an-issue")
        return found


def _child(entry: TreeEntry, parent: str) -> TreeEntry:
    """``entry`` of directory ``parent`` with its path from the repository root."""
    path = f"{parent}/{entry.path}" if parent else entry.path
    return TreeEntry(entry.mode, entry.type, entry.sha, path, entry.size)


def _object(body: Any) -> Json:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise _ApiError(400, p.basic_error("Problems parsing JSON", 400))
    return body


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


async def _parse(request: web.Request) -> _Call:
    raw = await request.read()
    body: Any = None
    if raw:
        try:
            body = json.loads(raw)
        except ValueError:
            raise web.HTTPBadRequest() from None
    principal = request.get(_PRINCIPAL) or _Principal("")
    return _Call(request.method, dict(request.match_info), dict(request.query), body, principal)


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    if status == 204:
        return web.Response(status=204, headers=dict(headers or {}))
    response = web.Response(
        status=status, body=json.dumps(body).encode(), content_type="application/json", charset="utf-8"
    )
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response


Route = tuple[str, str, Callable[[_Repo, _Call], _Answer]]
"""(HTTP method, path pattern under the API root, handler of a request on one repository)."""


class ForgeBase:
    """State the route modules read and the GitHub-shaped payloads they answer with.

    :class:`~cloudops.embedded.forge.server.LocalForge` sets the attributes; handlers run with
    ``_lock`` held (one request at a time).
    """

    root: Path
    user: str
    port: int
    _lock: threading.RLock
    _repos: dict[tuple[str, str], _Repo]

    def _find(self, owner: str, name: str) -> _Repo | None:
        """The repository ``owner/name`` (loaded on first use), None if the forge has none."""
        name = name.removesuffix(".git")
        key = (owner, name)
        repo = self._repos.get(key)
        if repo is None:
            if not (_OWNER_RE.fullmatch(owner) and _REPO_RE.fullmatch(name)):
                return None
            candidate = _Repo(self.root, owner, name)
            if not candidate.git.exists():
                return None
            self._repos[key] = repo = candidate
        return repo

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (the API root; valid once started)."""
        return f"http://{_HOST}:{self.port}"

    @property
    def site(self) -> p.Site:
        return p.Site(api=self.base_url, web=self.base_url)

    @staticmethod
    def _email(login: str) -> str:
        return f"{_stable_int(login)}+{login}@users.noreply.github.com"

    def _user(self, login: str) -> Json:
        kind = "User" if login == self.user else "Bot" if login.endswith("[bot]") else "Organization"
        return p.user(self.site, login, _stable_int(login), kind=kind)

    def _repo_payload(self, repo: _Repo, *, full: bool = True) -> Json:
        state = repo.state
        open_pulls = sum(1 for pr in state["pulls"].values() if pr["state"] == "open")
        return p.repository(
            self.site,
            owner=self._user(repo.owner),
            name=repo.name,
            repo_id=int(state["id"]),
            default_branch=repo.git.default_branch(),
            private=bool(state.get("private", True)),
            description=state.get("description"),
            created_at=datetime.fromisoformat(state["created_at"].replace("Z", "+00:00")),
            pushed_at=datetime.fromisoformat(state["pushed_at"].replace("Z", "+00:00")),
            open_issues=open_pulls,
            full=full,
        )

    def _stats(self, repo: _Repo, record: Json) -> p.PullStats:
        git = repo.git
        if record.get("merged_at"):  # a merged pull request keeps the head and base it was merged at
            head_sha, base_sha = record["head_sha"], record["base_sha"]
        else:
            head_sha = git.read_ref(f"refs/heads/{record['head']}") or record["head_sha"]
            base_sha = git.read_ref(f"refs/heads/{record['base']}") or record["base_sha"]
        if record["state"] == "open":
            record["head_sha"], record["base_sha"] = head_sha, base_sha
        merge_base = git.merge_base(base_sha, head_sha) or base_sha
        numstat = git.numstat(merge_base, head_sha)
        return p.PullStats(
            head_sha=head_sha,
            base_sha=base_sha,
            commits=git.count_commits(base_sha, head_sha),
            additions=sum(a for a, _, _ in numstat),
            deletions=sum(d for _, d, _ in numstat),
            changed_files=len(numstat),
            mergeable=git.merges_cleanly(base_sha, head_sha),
        )

    def _pull_payload(self, repo: _Repo, record: Json, *, simple: bool = False) -> Json:
        labels = [p.label(self.site, repo.full_name, repo.state["labels"][n]) for n in record.get("labels", [])]
        return p.pull_request(
            self.site,
            record=record,
            repo=self._repo_payload(repo, full=False),
            author=self._user(record["user"]),
            labels=labels,
            stats=self._stats(repo, record),
            simple=simple,
            reviewers=[self._user(login) for login in record.get("requested_reviewers", [])],
            assignees=[self._user(login) for login in record.get("assignees", [])],
            merged_by=self._user(record["merged_by"]) if record.get("merged_by") else None,
        )

    def _commit_ish(self, repo: _Repo, sha: str, *, kind: str) -> str:
        """Full id of an existing object of ``kind`` named by ``sha``; 422 otherwise."""
        if not re.fullmatch(r"[0-9a-fA-F]{4,40}", sha or ""):
            raise _unprocessable(f"{kind.capitalize()} SHA is not valid: {sha!r}")
        full = repo.git.rev_parse(f"{sha}^{{{kind}}}")
        if full is None:
            raise _unprocessable(f"{kind.capitalize()} SHA does not exist or is not a {kind} object")
        return full

    def _touch(self, repo: _Repo) -> None:
        repo.state["pushed_at"] = _now_iso()
        repo.save()

    def _label_payloads(self, repo: _Repo, record: Json) -> list[Json]:
        return [p.label(self.site, repo.full_name, repo.state["labels"][n]) for n in record.get("labels", [])]

    def _issue_payload(self, repo: _Repo, record: Json) -> Json:
        return p.issue(
            self.site,
            repo.full_name,
            record,
            author=self._user(record["user"]),
            labels=self._label_payloads(repo, record),
            assignees=[self._user(login) for login in record.get("assignees", [])],
        )

    @staticmethod
    def _logins(value: Any, resource: str, field_name: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) and _OWNER_RE.fullmatch(v) for v in value):
            raise _invalid(resource, field_name)
        return list(value)
