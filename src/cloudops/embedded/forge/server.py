"""A local GitHub REST API "forge" on 127.0.0.1, backed by real bare git repositories.

:class:`LocalForge` serves the subset of GitHub's REST API v3 that cloudops' pull-request
sink uses (repository, git refs/commits/blobs/trees, contents, pulls with requested
reviewers, issues with assignees, labels and comments), shaped like GitHub's answers so
githubkit's response models validate.

Layout on disk (``root``): ``<owner>/<repo>.git`` is a bare repository, every git
operation runs the ``git`` CLI on it; ``<owner>/<repo>.forge.json`` next to it keeps
pull requests, labels and comments, so a restarted forge still knows them.

Contracts:

* :meth:`LocalForge.start` blocks until the server listens (a background thread with its
  own event loop; works from sync and async callers alike), :meth:`LocalForge.stop`
  blocks until it has shut down. Only 127.0.0.1 is ever bound.
* Every API request needs ``Authorization: token <t>`` or ``Bearer <t>`` with the
  configured token, else 401 with GitHub's ``{"message": "Bad credentials"}`` body.
* Requests are handled one at a time (a lock around each handler), so git refs and the
  state file never see concurrent writers.
* :meth:`LocalForge.inject_fault` makes the next N matching requests fail the way
  GitHub does (403 primary rate limit, 429 secondary rate limit, 5xx, 422); such requests
  do nothing else. :attr:`LocalForge.requests` records every API request and its status.
* :meth:`LocalForge.pull_diff` / :meth:`LocalForge.branch_commit` read a pull request's
  branch commit and its diff against the base straight from the bare repository.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import hashlib
import hmac
import json
import logging
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from aiohttp import web

from cloudops.embedded.forge import payloads as p
from cloudops.embedded.forge.git import (
    BLOB_MODES,
    BareRepository,
    CommitInfo,
    GitError,
    GitIdentity,
    TreeEdit,
    TreeEntry,
)

__all__ = ["FaultKind", "LocalForge", "PullDiff", "RecordedRequest"]

_log = logging.getLogger(__name__)

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


@dataclass
class _Call:
    """A parsed request handed to a synchronous handler."""

    method: str
    params: Mapping[str, str]
    query: Mapping[str, str]
    body: Any


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


class LocalForge:
    """GitHub-compatible REST API for the bare repositories under ``root``, on 127.0.0.1.

    ``token`` is the only accepted credential; it authenticates as ``user`` (a login).
    ``port`` 0 (the default) picks a free port when :meth:`start` binds.
    """

    def __init__(self, root: Path, *, token: str, user: str = "cloudops-bot", port: int = 0) -> None:
        if not token:
            raise ValueError("the forge needs a non-empty token")
        self.root = root
        self.token = token
        self.user = user
        self.port = port
        self._lock = threading.RLock()
        self._repos: dict[tuple[str, str], _Repo] = {}
        self._faults: list[_Fault] = []
        self._requests: list[RecordedRequest] = []
        self._used = 0
        self._window_reset = int(time.time()) + 3600
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._startup_error: BaseException | None = None

    # -- public: lifecycle ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (the API root; valid once started)."""
        return f"http://{_HOST}:{self.port}"

    @property
    def site(self) -> p.Site:
        return p.Site(api=self.base_url, web=self.base_url)

    def start(self, timeout: float = 15.0) -> LocalForge:
        """Serve in a background thread; returns once listening. RuntimeError if it could not start."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve_thread, args=(ready,), name="local-forge", daemon=True)
        self._thread.start()
        if not ready.wait(timeout) or self._startup_error is not None:
            self.stop()
            raise RuntimeError(f"local forge did not start: {self._startup_error or 'timeout'}")
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stop serving and wait for the thread (idempotent)."""
        thread, loop = self._thread, self._loop
        self._thread = None
        if thread is None:
            return
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed meanwhile: the thread is ending anyway
                loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)

    def __enter__(self) -> LocalForge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def serve(self, stop: asyncio.Event, *, on_ready: Callable[[], None] | None = None) -> None:
        """Serve on the running event loop until ``stop`` is set; ``on_ready()`` once listening."""
        await self._start_runner()
        try:
            if on_ready is not None:
                on_ready()
            await stop.wait()
        finally:
            await self._stop_runner()

    def _serve_thread(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._start_runner())
        except BaseException as exc:  # reported to start()
            self._startup_error = exc
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._stop_runner())
            loop.close()
            self._loop = None

    async def _start_runner(self) -> None:
        runner = web.AppRunner(self._app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, _HOST, self.port)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def _stop_runner(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # -- public: repositories ------------------------------------------------------------------

    def create_repository(
        self,
        owner: str,
        name: str,
        *,
        seed_dir: Path | None = None,
        files: Mapping[str, bytes] | None = None,
        default_branch: str = "main",
        private: bool = True,
        description: str | None = None,
        message: str = "Initial commit",
    ) -> BareRepository:
        """``git init --bare`` ``<root>/<owner>/<name>.git``, seeded with one commit on ``default_branch``.

        Raises GitError if it exists already, ValueError for names GitHub would refuse.
        """
        if not _OWNER_RE.fullmatch(owner) or not _REPO_RE.fullmatch(name) or name in (".", ".."):
            raise ValueError(f"invalid repository name {owner}/{name}")
        with self._lock:
            repo = _Repo(self.root, owner, name)
            repo.git.init(
                default_branch=default_branch,
                seed_dir=seed_dir,
                files=files,
                message=message,
                author=GitIdentity(self.user, self._email(self.user)),
            )
            repo._state = repo.fresh_state(private=private, description=description)
            repo.save()
            self._repos[(owner, name)] = repo
            return repo.git

    def repository(self, owner: str, name: str) -> BareRepository:
        """The bare repository of ``owner/name``; KeyError if the forge has none."""
        with self._lock:
            repo = self._find(owner, name)
            if repo is None:
                raise KeyError(f"{owner}/{name}")
            return repo.git

    def branch_commit(self, owner: str, name: str, branch: str) -> CommitInfo:
        """The commit ``branch`` points at (GitError if no such branch)."""
        git = self.repository(owner, name)
        sha = git.read_ref(f"refs/heads/{branch}")
        if sha is None:
            raise GitError(f"no branch {branch} in {owner}/{name}")
        return git.read_commit(sha)

    def pull_record(self, owner: str, name: str, number: int) -> Json:
        """A copy of the stored pull request record (title, body, state, head, base, labels...)."""
        with self._lock:
            repo = self._find(owner, name)
            if repo is None:
                raise KeyError(f"{owner}/{name}")
            return copy.deepcopy(repo.pull(number))

    def pull_numbers(self, owner: str, name: str) -> list[int]:
        """Numbers of every pull request of ``owner/name``, ascending."""
        with self._lock:
            repo = self._find(owner, name)
            if repo is None:
                raise KeyError(f"{owner}/{name}")
            return sorted(int(n) for n in repo.state["pulls"])

    def pull_diff(self, owner: str, name: str, number: int) -> PullDiff:
        """Branch commit of pull request ``number`` and its diff from the merge base with the base branch."""
        with self._lock:
            repo = self._find(owner, name)
            if repo is None:
                raise KeyError(f"{owner}/{name}")
            record = repo.pull(number)
            stats = self._stats(repo, record)
            merge_base = repo.git.merge_base(stats.base_sha, stats.head_sha) or stats.base_sha
            return PullDiff(
                number=number,
                state=record["state"],
                title=record["title"],
                body=record.get("body"),
                labels=tuple(record.get("labels", [])),
                head=record["head"],
                base=record["base"],
                head_sha=stats.head_sha,
                base_sha=stats.base_sha,
                merge_base=merge_base,
                commit=repo.git.read_commit(stats.head_sha),
                changed_paths=tuple(path for _, _, path in repo.git.numstat(merge_base, stats.head_sha)),
                patch=repo.git.diff(merge_base, stats.head_sha),
            )

    # -- public: faults and the request log ---------------------------------------------------

    def inject_fault(
        self,
        kind: FaultKind,
        count: int = 1,
        *,
        match: str | None = None,
        status: int | None = None,
        retry_after: int = 1,
        reset_in: float = 1.0,
        message: str | None = None,
    ) -> None:
        """Make the next ``count`` API requests (those whose ``"METHOD /path"`` matches the regex
        ``match``, if given) fail like GitHub:

        * ``rate_limit`` - 403, ``x-ratelimit-remaining: 0``, ``x-ratelimit-reset`` = now + ``reset_in`` s
        * ``secondary_rate_limit`` - 429 with ``retry-after: <retry_after>``
        * ``server_error`` - ``status`` (default 502) with ``{"message": "Server Error"}``
        * ``validation`` - 422 ``{"message": "Validation Failed", "errors": [...]}`` (``message`` in the error)

        Faults queue up in order; a failed request has no other effect.
        """
        if kind not in _FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(_FAULT_KINDS)}")
        if count < 1:
            raise ValueError("count must be >= 1")
        default_status = {"rate_limit": 403, "secondary_rate_limit": 429, "server_error": 502, "validation": 422}
        with self._lock:
            self._faults.append(
                _Fault(
                    kind=kind,
                    remaining=count,
                    match=re.compile(match) if match else None,
                    status=status or default_status[kind],
                    retry_after=retry_after,
                    reset_in=reset_in,
                    message=message,
                )
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every API request answered so far (a copy), oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- HTTP plumbing -------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=100 << 20)
        r = "/repos/{owner}/{repo}"
        routes: list[tuple[str, str, Callable[[_Repo, _Call], _Answer]]] = [
            ("GET", r, self._get_repo),
            ("GET", r + "/git/ref/{ref:.+}", self._get_ref),
            ("POST", r + "/git/refs", self._create_ref),
            ("PATCH", r + "/git/refs/{ref:.+}", self._update_ref),
            ("DELETE", r + "/git/refs/{ref:.+}", self._delete_ref),
            ("GET", r + "/git/commits/{sha}", self._get_commit),
            ("POST", r + "/git/commits", self._create_commit),
            ("GET", r + "/git/blobs/{sha}", self._get_blob),
            ("POST", r + "/git/blobs", self._create_blob),
            ("GET", r + "/git/trees/{sha}", self._get_tree),
            ("POST", r + "/git/trees", self._create_tree),
            ("GET", r + "/contents", self._get_contents),
            ("GET", r + "/contents/{path:.*}", self._get_contents),
            ("GET", r + "/pulls", self._list_pulls),
            ("POST", r + "/pulls", self._create_pull),
            ("GET", r + r"/pulls/{number:\d+}", self._get_pull),
            ("PATCH", r + r"/pulls/{number:\d+}", self._update_pull),
            ("POST", r + r"/pulls/{number:\d+}/requested_reviewers", self._request_reviewers),
            ("GET", r + "/issues", self._list_issues),
            ("POST", r + "/issues", self._create_issue),
            ("GET", r + r"/issues/{number:\d+}", self._get_issue),
            ("PATCH", r + r"/issues/{number:\d+}", self._update_issue),
            ("POST", r + r"/issues/{number:\d+}/assignees", self._add_assignees),
            ("GET", r + r"/issues/{number:\d+}/labels", self._list_labels),
            ("POST", r + r"/issues/{number:\d+}/labels", self._add_labels),
            ("GET", r + r"/issues/{number:\d+}/comments", self._list_comments),
            ("POST", r + r"/issues/{number:\d+}/comments", self._add_comment),
        ]
        for method, path, fn in routes:
            app.router.add_route(method, path, self._bind(fn))
        app.router.add_route("GET", "/user", self._bind_plain(self._get_user))
        app.router.add_route("POST", "/_forge/faults", self._admin_add_fault)
        app.router.add_route("DELETE", "/_forge/faults", self._admin_clear_faults)
        return app

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() in ("token", "bearer") and hmac.compare_digest(value.strip(), self.token)

    def _rate_headers(self) -> dict[str, str]:
        now = int(time.time())
        if now >= self._window_reset:
            self._window_reset, self._used = now + 3600, 0
        self._used += 1
        return {
            "x-ratelimit-limit": str(_RATE_LIMIT),
            "x-ratelimit-remaining": str(max(_RATE_LIMIT - self._used, 1)),
            "x-ratelimit-reset": str(self._window_reset),
            "x-ratelimit-used": str(self._used),
            "x-ratelimit-resource": "core",
        }

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        if request.path.startswith("/_forge/"):
            if not self._authorized(request):
                return _json(401, p.basic_error("Bad credentials", 401))
            response: web.StreamResponse = await handler(request)
            return response
        fault_name: str | None = None
        with self._lock:
            headers = self._rate_headers()
            fault = self._take_fault(f"{request.method} {request.path}")
        headers["x-github-request-id"] = uuid.uuid4().hex[:20].upper()
        headers["x-github-api-version-selected"] = _API_VERSION
        headers["x-github-media-type"] = "github.v3; format=json"
        if fault is not None:
            fault_name = fault.kind
            answer = self._fault_answer(fault, headers)
            response = _json(answer.status, answer.body, answer.headers)
        elif not self._authorized(request):
            message = "Requires authentication" if "Authorization" not in request.headers else "Bad credentials"
            response = _json(401, p.basic_error(message, 401), headers)
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:  # no such route or method, unparsable body
                messages = {400: "Problems parsing JSON", 404: "Not Found", 405: "Method Not Allowed"}
                message = messages.get(exc.status, exc.reason)
                response = _json(exc.status, p.basic_error(message, exc.status), headers)
            else:
                for k, v in headers.items():
                    response.headers.setdefault(k, v)
        with self._lock:
            self._requests.append(RecordedRequest(request.method, request.path, response.status, fault_name))
        return response

    def _take_fault(self, line: str) -> _Fault | None:
        for fault in self._faults:
            if fault.match is None or fault.match.search(line):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _fault_answer(self, fault: _Fault, headers: dict[str, str]) -> _Answer:
        headers = dict(headers)
        if fault.kind == "rate_limit":
            reset = math.ceil(time.time() + fault.reset_in)
            headers.update({"x-ratelimit-remaining": "0", "x-ratelimit-used": str(_RATE_LIMIT)})
            headers["x-ratelimit-reset"] = str(reset)
            message = fault.message or (
                f"API rate limit exceeded for user ID {_stable_int(self.user)}. If you reach out to GitHub "
                "Support for help, please include the request ID " + headers["x-github-request-id"] + "."
            )
            doc = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
            return _Answer(fault.status, p.basic_error(message, fault.status, doc), headers)
        if fault.kind == "secondary_rate_limit":
            headers["retry-after"] = str(fault.retry_after)
            message = fault.message or (
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
                "If you reach out to GitHub Support for help, please include the request ID "
                + headers["x-github-request-id"]
                + "."
            )
            doc = "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api"
            return _Answer(fault.status, p.basic_error(message, fault.status, doc), headers)
        if fault.kind == "server_error":
            return _Answer(fault.status, {"message": fault.message or "Server Error"}, headers)
        error = {"resource": "Repository", "code": "custom", "message": fault.message or "Validation failed"}
        return _Answer(fault.status, p.validation_error([error]), headers)

    def _bind(self, fn: Callable[[_Repo, _Call], _Answer]) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            call = await _parse(request)
            loop = asyncio.get_running_loop()
            answer = await loop.run_in_executor(None, self._dispatch, fn, call)
            return _json(answer.status, answer.body, answer.headers)

        return handle

    def _bind_plain(self, fn: Callable[[], _Answer]) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            answer = fn()
            return _json(answer.status, answer.body, answer.headers)

        return handle

    def _dispatch(self, fn: Callable[[_Repo, _Call], _Answer], call: _Call) -> _Answer:
        try:
            with self._lock:
                repo = self._find(call.params["owner"], call.params["repo"])
                if repo is None:
                    raise _not_found("https://docs.github.com/rest/repos/repos#get-a-repository")
                return fn(repo, call)
        except _ApiError as exc:
            return _Answer(exc.status, exc.body, exc.headers)
        except GitError as exc:
            return _Answer(422, p.basic_error(str(exc), 422))
        except Exception:
            _log.exception("forge handler failed for %s %s", call.method, dict(call.params))
            return _Answer(500, {"message": "Server Error"})

    async def _admin_add_fault(self, request: web.Request) -> web.StreamResponse:
        call = await _parse(request)
        body = call.body if isinstance(call.body, dict) else {}
        try:
            self.inject_fault(
                body.get("kind", ""),
                int(body.get("count", 1)),
                match=body.get("match"),
                status=body.get("status"),
                retry_after=int(body.get("retry_after", 1)),
                reset_in=float(body.get("reset_in", 1.0)),
                message=body.get("message"),
            )
        except (ValueError, TypeError, re.error) as exc:
            return _json(422, p.basic_error(str(exc), 422))
        return _json(201, {"queued": True})

    async def _admin_clear_faults(self, request: web.Request) -> web.StreamResponse:
        self.clear_faults()
        return web.Response(status=204)

    # -- helpers over repositories --------------------------------------------------------------

    def _find(self, owner: str, name: str) -> _Repo | None:
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

    @staticmethod
    def _email(login: str) -> str:
        return f"{_stable_int(login)}+{login}@users.noreply.github.com"

    def _user(self, login: str) -> Json:
        kind = "User" if login == self.user else "Organization"
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

    # -- handlers: repository and git database ---------------------------------------------------

    def _get_user(self) -> _Answer:
        return _Answer(200, self._user(self.user))

    def _get_repo(self, repo: _Repo, call: _Call) -> _Answer:
        return _Answer(200, self._repo_payload(repo))

    def _get_ref(self, repo: _Repo, call: _Call) -> _Answer:
        ref = "refs/" + call.params["ref"].strip("/")
        sha = repo.git.read_ref(ref) if repo.git.valid_ref_name(ref) else None
        if sha is None:
            raise _not_found("https://docs.github.com/rest/git/refs#get-a-reference")
        return _Answer(200, p.git_ref(self.site, repo.full_name, ref, sha, repo.git.object_type(sha) or "commit"))

    def _create_ref(self, repo: _Repo, call: _Call) -> _Answer:
        body = _object(call.body)
        ref, sha = body.get("ref"), body.get("sha")
        if not isinstance(ref, str) or not isinstance(sha, str):
            raise _invalid("Reference", "ref" if not isinstance(ref, str) else "sha", "missing_field")
        if not ref.startswith("refs/") or ref.count("/") < 2 or not repo.git.valid_ref_name(ref):
            raise _unprocessable("Reference name is not valid (must start with 'refs' and have at least two slashes)")
        target = repo.git.rev_parse(sha) if re.fullmatch(r"[0-9a-fA-F]{40}", sha) else None
        if target is None or repo.git.object_type(target) is None:
            raise _unprocessable("Object does not exist")
        if repo.git.read_ref(ref) is not None:
            raise _unprocessable("Reference already exists")
        repo.git.update_ref(ref, target, old=None)
        self._touch(repo)
        payload = p.git_ref(self.site, repo.full_name, ref, target, repo.git.object_type(target) or "commit")
        return _Answer(201, payload, {"Location": payload["url"]})

    def _update_ref(self, repo: _Repo, call: _Call) -> _Answer:
        body = _object(call.body)
        ref = "refs/" + call.params["ref"].strip("/")
        sha = body.get("sha")
        if not isinstance(sha, str):
            raise _invalid("Reference", "sha", "missing_field")
        current = repo.git.read_ref(ref) if repo.git.valid_ref_name(ref) else None
        if current is None:
            raise _unprocessable("Reference does not exist")
        target = repo.git.rev_parse(f"{sha}^{{commit}}") if re.fullmatch(r"[0-9a-fA-F]{40}", sha) else None
        if target is None:
            raise _unprocessable("Object does not exist")
        if not body.get("force", False) and not repo.git.is_ancestor(current, target):
            raise _unprocessable("Update is not a fast forward")
        if target != current:
            repo.git.update_ref(ref, target, old=current)
            self._touch(repo)
        return _Answer(200, p.git_ref(self.site, repo.full_name, ref, target, "commit"))

    def _delete_ref(self, repo: _Repo, call: _Call) -> _Answer:
        ref = "refs/" + call.params["ref"].strip("/")
        current = repo.git.read_ref(ref) if repo.git.valid_ref_name(ref) else None
        if current is None:
            raise _unprocessable("Reference does not exist")
        repo.git.delete_ref(ref, old=current)
        self._touch(repo)
        return _Answer(204, None)

    def _get_commit(self, repo: _Repo, call: _Call) -> _Answer:
        sha = call.params["sha"]
        full = repo.git.rev_parse(f"{sha}^{{commit}}") if re.fullmatch(r"[0-9a-fA-F]{4,40}", sha) else None
        if full is None:
            raise _not_found("https://docs.github.com/rest/git/commits#get-a-commit-object")
        return _Answer(200, p.git_commit(self.site, repo.full_name, repo.git.read_commit(full)))

    def _identity(self, value: Any, field_name: str) -> GitIdentity:
        if value is None:
            return GitIdentity(self.user, self._email(self.user), datetime.now(UTC))
        if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value.get("email"):
            raise _invalid("Commit", field_name)
        date = datetime.now(UTC)
        if value.get("date"):
            try:
                date = datetime.fromisoformat(str(value["date"]).replace("Z", "+00:00"))
            except ValueError:
                raise _invalid("Commit", f"{field_name}.date") from None
        return GitIdentity(value["name"], str(value["email"]), date)

    def _create_commit(self, repo: _Repo, call: _Call) -> _Answer:
        body = _object(call.body)
        message, tree = body.get("message"), body.get("tree")
        if not isinstance(message, str):
            raise _invalid("Commit", "message", "missing_field")
        if not isinstance(tree, str):
            raise _invalid("Commit", "tree", "missing_field")
        parents = body.get("parents", [])
        if not isinstance(parents, list) or not all(isinstance(x, str) for x in parents):
            raise _invalid("Commit", "parents")
        tree_sha = self._commit_ish(repo, tree, kind="tree")
        parent_shas = [self._commit_ish(repo, x, kind="commit") for x in parents]
        author = self._identity(body.get("author"), "author")
        committer = self._identity(body.get("committer"), "committer") if body.get("committer") else author
        sha = repo.git.commit_tree(tree_sha, parent_shas, message, author=author, committer=committer)
        payload = p.git_commit(self.site, repo.full_name, repo.git.read_commit(sha))
        return _Answer(201, payload, {"Location": payload["url"]})

    def _get_blob(self, repo: _Repo, call: _Call) -> _Answer:
        sha = call.params["sha"]
        if not re.fullmatch(r"[0-9a-fA-F]{40}", sha) or repo.git.object_type(sha) != "blob":
            raise _not_found("https://docs.github.com/rest/git/blobs#get-a-blob")
        data = repo.git.read_blob(sha)
        body = p.short_blob(self.site, repo.full_name, sha)
        body.update(
            node_id=p.node_id("B", repo.full_name, sha),
            size=len(data),
            encoding="base64",
            content=base64.encodebytes(data).decode(),
        )
        return _Answer(200, body)

    def _create_blob(self, repo: _Repo, call: _Call) -> _Answer:
        body = _object(call.body)
        content, encoding = body.get("content"), body.get("encoding", "utf-8")
        if not isinstance(content, str):
            raise _invalid("Blob", "content", "missing_field")
        if encoding in ("utf-8", "utf8"):
            data = content.encode()
        elif encoding == "base64":
            try:
                data = base64.b64decode(content, validate=False)
            except (binascii.Error, ValueError):
                raise _invalid("Blob", "content", message="content is not valid Base64") from None
        else:
            raise _invalid("Blob", "encoding", message=f"encoding {encoding!r} is not supported")
        sha = repo.git.hash_blob(data)
        payload = p.short_blob(self.site, repo.full_name, sha)
        return _Answer(201, payload, {"Location": payload["url"]})

    def _get_tree(self, repo: _Repo, call: _Call) -> _Answer:
        sha = call.params["sha"]
        full = repo.git.rev_parse(f"{sha}^{{tree}}") if re.fullmatch(r"[0-9a-fA-F]{4,40}", sha) else None
        if full is None:
            full = repo.git.rev_parse(f"refs/heads/{sha}^{{tree}}")
        if full is None:
            raise _not_found("https://docs.github.com/rest/git/trees#get-a-tree")
        recursive = call.query.get("recursive", "") not in ("", "0", "false")
        entries = repo.git.ls_tree(full, sizes=True, recursive=recursive)
        return _Answer(200, p.git_tree(self.site, repo.full_name, full, entries))

    def _create_tree(self, repo: _Repo, call: _Call) -> _Answer:
        body = _object(call.body)
        items = body.get("tree")
        if not isinstance(items, list):
            raise _invalid("Tree", "tree", "missing_field")
        base = body.get("base_tree")
        base_sha = self._commit_ish(repo, base, kind="tree") if base else None
        edits: list[TreeEdit] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("path"), str):
                raise _invalid("Tree", f"tree[{i}].path", "missing_field")
            mode, kind = str(item.get("mode", "")), str(item.get("type", ""))
            if mode not in BLOB_MODES | {"040000", "160000"} or kind not in ("blob", "tree", "commit"):
                raise _unprocessable(f"tree.mode/type invalid for {item['path']}: {mode} {kind}")
            if "content" in item and item["content"] is not None:
                if kind != "blob":
                    raise _unprocessable(f"tree.content requires type blob for {item['path']}")
                edits.append(TreeEdit(item["path"], mode, "blob", repo.git.hash_blob(str(item["content"]).encode())))
            elif item.get("sha") is None:
                edits.append(TreeEdit(item["path"], mode, kind, None))
            else:
                sha = str(item["sha"])
                if kind != "commit":
                    sha = self._commit_ish(repo, sha, kind=kind)
                edits.append(TreeEdit(item["path"], mode, kind, sha))
        try:
            sha = repo.git.write_tree(base_sha, edits)
        except GitError as exc:
            raise _unprocessable(f"GitRPC::BadObjectState: {exc}") from None
        entries = repo.git.ls_tree(sha, sizes=True)
        payload = p.git_tree(self.site, repo.full_name, sha, entries)
        return _Answer(201, payload, {"Location": payload["url"]})

    def _get_contents(self, repo: _Repo, call: _Call) -> _Answer:
        path = call.params.get("path", "").strip("/")
        ref = call.query.get("ref") or repo.git.default_branch()
        commit = repo.git.resolve_commit(ref)
        doc = "https://docs.github.com/rest/repos/contents#get-repository-content"
        if commit is None:
            raise _ApiError(404, p.basic_error(f"No commit found for the ref {ref}", 404, doc))
        entry = repo.git.entry_at(commit, path)
        if entry is None:
            raise _not_found(doc)
        if entry.type == "tree":
            children = repo.git.ls_tree(f"{commit}:{path}" if path else entry.sha, sizes=True)
            listing = [p.content_entry(self.site, repo.full_name, ref, _child(c, path)) for c in children]
            return _Answer(200, listing)
        data = repo.git.read_blob(entry.sha) if entry.type == "blob" else None
        return _Answer(200, p.content_entry(self.site, repo.full_name, ref, entry, data))

    # -- handlers: pull requests, labels, comments ------------------------------------------------

    def _list_pulls(self, repo: _Repo, call: _Call) -> _Answer:
        q = call.query
        state = q.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise _invalid("PullRequest", "state")
        head = q.get("head")
        head_branch: str | None = None
        if head:
            owner, sep, branch = head.partition(":")
            if sep and owner != repo.owner:
                return _Answer(200, [])
            head_branch = branch if sep else head
        base = q.get("base")
        records = [
            r
            for r in repo.state["pulls"].values()
            if (state == "all" or r["state"] == state)
            and (head_branch is None or r["head"] == head_branch)
            and (base is None or r["base"] == base)
        ]
        key = "updated_at" if q.get("sort") == "updated" else "created_at"
        records.sort(key=lambda r: (r[key], r["number"]), reverse=q.get("direction", "desc") != "asc")
        per_page = min(max(_int(q.get("per_page"), 30), 1), 100)
        page = max(_int(q.get("page"), 1), 1)
        chunk = records[(page - 1) * per_page : page * per_page]
        headers: dict[str, str] = {}
        if page * per_page < len(records):
            last = math.ceil(len(records) / per_page)
            url = f"{self.base_url}/repos/{repo.full_name}/pulls?state={state}&per_page={per_page}"
            headers["Link"] = f'<{url}&page={page + 1}>; rel="next", <{url}&page={last}>; rel="last"'
        return _Answer(200, [self._pull_payload(repo, r, simple=True) for r in chunk], headers)

    def _create_pull(self, repo: _Repo, call: _Call) -> _Answer:
        doc = "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"
        body = _object(call.body)
        title, head, base = body.get("title"), body.get("head"), body.get("base")
        if not isinstance(title, str) or not title.strip():
            raise _invalid("PullRequest", "title", "missing_field")
        if not isinstance(head, str) or not head:
            raise _invalid("PullRequest", "head", "missing_field")
        if not isinstance(base, str) or not base:
            raise _invalid("PullRequest", "base", "missing_field")
        owner, sep, head_branch = head.partition(":")
        if not sep:
            owner, head_branch = repo.owner, head
        head_sha = repo.git.read_ref(f"refs/heads/{head_branch}") if owner == repo.owner else None
        if head_sha is None:
            raise _invalid("PullRequest", "head")
        base_sha = repo.git.read_ref(f"refs/heads/{base}")
        if base_sha is None:
            raise _invalid("PullRequest", "base")
        for other in repo.state["pulls"].values():
            if other["state"] == "open" and other["head"] == head_branch and other["base"] == base:
                raise _custom("PullRequest", f"A pull request already exists for {repo.owner}:{head_branch}.", doc)
        if repo.git.is_ancestor(head_sha, base_sha):
            raise _custom("PullRequest", f"No commits between {base} and {head_branch}", doc)
        pr_body = body.get("body")
        now = _now_iso()
        number = int(repo.state["next_number"])
        repo.state["next_number"] = number + 1
        record: Json = {
            "number": number,
            "id": repo.next_id(),
            "title": title,
            "body": pr_body if isinstance(pr_body, str) else None,
            "state": "open",
            "draft": bool(body.get("draft", False)),
            "head": head_branch,
            "base": base,
            "head_sha": head_sha,
            "base_sha": base_sha,
            "user": self.user,
            "labels": [],
            "comments": 0,
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
        }
        repo.state["pulls"][str(number)] = record
        repo.save()
        payload = self._pull_payload(repo, record)
        return _Answer(201, payload, {"Location": payload["url"]})

    def _get_pull(self, repo: _Repo, call: _Call) -> _Answer:
        return _Answer(200, self._pull_payload(repo, repo.pull(call.params["number"])))

    def _update_pull(self, repo: _Repo, call: _Call) -> _Answer:
        record = repo.pull(call.params["number"])
        body = _object(call.body)
        changes: Json = {}
        if "title" in body:
            if not isinstance(body["title"], str) or not body["title"].strip():
                raise _invalid("PullRequest", "title")
            changes["title"] = body["title"]
        if "body" in body:
            if body["body"] is not None and not isinstance(body["body"], str):
                raise _invalid("PullRequest", "body")
            changes["body"] = body["body"]
        if "base" in body:
            if not isinstance(body["base"], str) or repo.git.read_ref(f"refs/heads/{body['base']}") is None:
                raise _invalid("PullRequest", "base")
            changes["base"] = body["base"]
        if "state" in body:
            if body["state"] not in ("open", "closed"):
                raise _invalid("PullRequest", "state")
            changes["state"] = body["state"]
        new_state = changes.get("state", record["state"])
        if new_state == "open" and record["state"] == "closed":
            if repo.git.read_ref(f"refs/heads/{record['head']}") is None:
                raise _custom("PullRequest", "state cannot be changed. The head branch was deleted.")
            base = changes.get("base", record["base"])
            for other in repo.state["pulls"].values():
                if (
                    other is not record
                    and other["state"] == "open"
                    and other["head"] == record["head"]
                    and other["base"] == base
                ):
                    raise _custom("PullRequest", f"A pull request already exists for {repo.owner}:{other['head']}.")
        changed = {k: v for k, v in changes.items() if record.get(k) != v}
        if changed:
            if changed.get("state") == "closed":
                self._stats(repo, record)  # remember the head and base it was closed at
                changed["closed_at"] = _now_iso()
            elif changed.get("state") == "open":
                changed["closed_at"] = None
            record.update(changed)
            record["updated_at"] = _now_iso()
            repo.save()
        return _Answer(200, self._pull_payload(repo, record))

    def _label_payloads(self, repo: _Repo, record: Json) -> list[Json]:
        return [p.label(self.site, repo.full_name, repo.state["labels"][n]) for n in record.get("labels", [])]

    def _list_labels(self, repo: _Repo, call: _Call) -> _Answer:
        record = repo.issue_or_pull(call.params["number"])
        return _Answer(200, self._label_payloads(repo, record))

    def _add_labels(self, repo: _Repo, call: _Call) -> _Answer:
        record = repo.issue_or_pull(call.params["number"])
        body = call.body
        raw = body.get("labels") if isinstance(body, dict) else body
        if not isinstance(raw, list) or not raw:
            raise _invalid("Label", "labels", "missing_field")
        names: list[str] = []
        for item in raw:
            name = item.get("name") if isinstance(item, dict) else item
            if not isinstance(name, str) or not name.strip() or len(name) > 50:
                raise _invalid("Label", "name")
            names.append(name)
        known = repo.state["labels"]
        for name in names:
            if name not in known:
                known[name] = {"id": repo.next_id(), "name": name, "color": "ededed", "description": None}
            if name not in record["labels"]:
                record["labels"].append(name)
                record["updated_at"] = _now_iso()
        repo.save()
        return _Answer(200, self._label_payloads(repo, record))

    def _list_comments(self, repo: _Repo, call: _Call) -> _Answer:
        number = int(call.params["number"])
        repo.issue_or_pull(number)
        comments = repo.state["comments"].get(str(number), [])
        listing = [p.issue_comment(self.site, repo.full_name, number, c, self._user(c["user"])) for c in comments]
        return _Answer(200, listing)

    def _add_comment(self, repo: _Repo, call: _Call) -> _Answer:
        number = int(call.params["number"])
        record = repo.issue_or_pull(number)
        body = _object(call.body)
        text = body.get("body")
        if not isinstance(text, str) or not text:
            raise _invalid("IssueComment", "body", "missing_field")
        comment = {"id": repo.next_id(), "body": text, "user": self.user, "created_at": _now_iso()}
        repo.state["comments"].setdefault(str(number), []).append(comment)
        record["comments"] = int(record.get("comments", 0)) + 1
        record["updated_at"] = comment["created_at"]
        repo.save()
        payload = p.issue_comment(self.site, repo.full_name, number, comment, self._user(self.user))
        return _Answer(201, payload, {"Location": payload["url"]})

    # -- handlers: reviewers, assignees, issues ------------------------------------------------------

    @staticmethod
    def _logins(value: Any, resource: str, field_name: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) and _OWNER_RE.fullmatch(v) for v in value):
            raise _invalid(resource, field_name)
        return list(value)

    def _request_reviewers(self, repo: _Repo, call: _Call) -> _Answer:
        """Any well-formed login is a collaborator here, except the pull request's author (422, as on GitHub)."""
        record = repo.pull(call.params["number"])
        body = _object(call.body)
        users = self._logins(body.get("reviewers"), "PullRequest", "reviewers")
        teams = self._logins(body.get("team_reviewers"), "PullRequest", "team_reviewers")
        if not users and not teams:
            raise _unprocessable(
                "Reviews may only be requested from collaborators. One or more of the users "
                "or teams you specified is not a collaborator of the repository."
            )
        if record["user"] in users:
            raise _unprocessable("Review cannot be requested from pull request author.")
        for key, names in (("requested_reviewers", users), ("requested_teams", teams)):
            current = record.setdefault(key, [])
            current.extend(n for n in names if n not in current)
        record["updated_at"] = _now_iso()
        repo.save()
        return _Answer(201, self._pull_payload(repo, record, simple=True))

    def _issue_payload(self, repo: _Repo, record: Json) -> Json:
        return p.issue(
            self.site,
            repo.full_name,
            record,
            author=self._user(record["user"]),
            labels=self._label_payloads(repo, record),
            assignees=[self._user(login) for login in record.get("assignees", [])],
        )

    def _add_assignees(self, repo: _Repo, call: _Call) -> _Answer:
        number = call.params["number"]
        record = repo.issue_or_pull(number)
        names = self._logins(_object(call.body).get("assignees"), "Issue", "assignees")
        current = record.setdefault("assignees", [])
        current.extend(n for n in names if n not in current)
        record["updated_at"] = _now_iso()
        repo.save()
        return _Answer(201, self._issue_payload(repo, record))

    def _list_issues(self, repo: _Repo, call: _Call) -> _Answer:
        """Issues only (GitHub lists pull requests here too; the forge keeps them apart)."""
        q = call.query
        state = q.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise _invalid("Issue", "state")
        wanted = {name for name in q.get("labels", "").split(",") if name}
        records = [
            r
            for r in repo.state.setdefault("issues", {}).values()
            if (state == "all" or r["state"] == state) and wanted <= set(r.get("labels", []))
        ]
        records.sort(key=lambda r: (r["created_at"], r["number"]), reverse=q.get("direction", "desc") != "asc")
        per_page = min(max(_int(q.get("per_page"), 30), 1), 100)
        page = max(_int(q.get("page"), 1), 1)
        chunk = records[(page - 1) * per_page : page * per_page]
        return _Answer(200, [self._issue_payload(repo, r) for r in chunk])

    def _create_issue(self, repo: _Repo, call: _Call) -> _Answer:
        body = _object(call.body)
        title, text = body.get("title"), body.get("body")
        if not isinstance(title, str) or not title.strip():
            raise _invalid("Issue", "title", "missing_field")
        if text is not None and not isinstance(text, str):
            raise _invalid("Issue", "body")
        names = [n if isinstance(n, str) else None for n in body.get("labels") or []]
        if any(n is None or not n.strip() or len(n) > 50 for n in names):
            raise _invalid("Label", "name")
        now = _now_iso()
        number = int(repo.state["next_number"])
        repo.state["next_number"] = number + 1
        known = repo.state["labels"]
        for name in names:
            assert name is not None
            if name not in known:
                known[name] = {"id": repo.next_id(), "name": name, "color": "ededed", "description": None}
        record: Json = {
            "number": number,
            "id": repo.next_id(),
            "title": title,
            "body": text,
            "state": "open",
            "user": self.user,
            "labels": list(dict.fromkeys(n for n in names if n)),
            "assignees": self._logins(body.get("assignees"), "Issue", "assignees"),
            "comments": 0,
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
        }
        repo.state.setdefault("issues", {})[str(number)] = record
        repo.save()
        payload = self._issue_payload(repo, record)
        return _Answer(201, payload, {"Location": payload["url"]})

    def _get_issue(self, repo: _Repo, call: _Call) -> _Answer:
        return _Answer(200, self._issue_payload(repo, repo.issue(call.params["number"])))

    def _update_issue(self, repo: _Repo, call: _Call) -> _Answer:
        record = repo.issue(call.params["number"])
        body = _object(call.body)
        changes: Json = {}
        if "title" in body:
            if not isinstance(body["title"], str) or not body["title"].strip():
                raise _invalid("Issue", "title")
            changes["title"] = body["title"]
        if "body" in body:
            if body["body"] is not None and not isinstance(body["body"], str):
                raise _invalid("Issue", "body")
            changes["body"] = body["body"]
        if "state" in body:
            if body["state"] not in ("open", "closed"):
                raise _invalid("Issue", "state")
            changes["state"] = body["state"]
            changes["closed_at"] = _now_iso() if body["state"] == "closed" else None
        changed = {k: v for k, v in changes.items() if record.get(k) != v}
        if changed:
            record.update(changed)
            record["updated_at"] = _now_iso()
            repo.save()
        return _Answer(200, self._issue_payload(repo, record))


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
    return _Call(request.method, dict(request.match_info), dict(request.query), body)


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    if status == 204:
        return web.Response(status=204, headers=dict(headers or {}))
    response = web.Response(
        status=status, body=json.dumps(body).encode(), content_type="application/json", charset="utf-8"
    )
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response
