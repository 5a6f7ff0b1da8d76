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
  configured token (acts as ``user`` on every repository) or with an installation token of a
  GitHub App (acts as ``<slug>[bot]`` on the repositories of that installation only: 404
  elsewhere), else 401 with GitHub's ``{"message": "Bad credentials"}`` body. Installation
  tokens come from ``POST /app/installations/{id}/access_tokens`` with a JWT signed by the
  App's private key (:meth:`LocalForge.register_app`, :meth:`LocalForge.install_app`; see
  :mod:`.apps`).
* The routes live in :mod:`.repos` (repository, git database, contents), :mod:`.pulls`
  (including merges), :mod:`.issues` (issues, labels, comments, assignees), :mod:`.hooks`
  (repository webhooks, their deliveries) and :mod:`.apps`; this module is the server:
  lifecycle, authentication, faults, the request log.
* Webhook deliveries a request caused (a PR opened, closed, merged; a hook pinged) are POSTed
  to the hooks after its handler ran and before it is answered (:meth:`LocalForge.hook_deliveries`
  lists them with the status code each hook answered).
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
import contextlib
import copy
import hmac
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from cloudops.embedded.forge import payloads as p
from cloudops.embedded.forge.apps import AppRoutes
from cloudops.embedded.forge.base import (
    _API_VERSION,
    _FAULT_KINDS,
    _HOST,
    _OWNER_RE,
    _PRINCIPAL,
    _RATE_LIMIT,
    _REPO_RE,
    FaultKind,
    Json,
    PullDiff,
    RecordedRequest,
    _Answer,
    _ApiError,
    _Call,
    _Fault,
    _json,
    _not_found,
    _parse,
    _Principal,
    _Repo,
    _stable_int,
)
from cloudops.embedded.forge.git import (
    BareRepository,
    CommitInfo,
    GitError,
    GitIdentity,
)
from cloudops.embedded.forge.hooks import HookRoutes
from cloudops.embedded.forge.issues import IssueRoutes
from cloudops.embedded.forge.pulls import PullRoutes
from cloudops.embedded.forge.repos import RepoRoutes

__all__ = ["FaultKind", "LocalForge", "PullDiff", "RecordedRequest"]

_log = logging.getLogger(__name__)


class LocalForge(RepoRoutes, PullRoutes, IssueRoutes, HookRoutes, AppRoutes):
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
        self._registry = None  # GitHub Apps, loaded from <root>/_apps.json on first use
        self._requests: list[RecordedRequest] = []
        self._used = 0
        self._window_reset = int(time.time()) + 3600
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._startup_error: BaseException | None = None

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

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=100 << 20)
        routes = [*self._repo_routes(), *self._pull_routes(), *self._issue_routes(), *self._hook_routes()]
        for method, path, fn in routes:
            app.router.add_route(method, path, self._bind(fn))
        for method, path, handler in self._app_routes():
            app.router.add_route(method, path, handler)
        app.router.add_route("GET", "/user", self._bind_plain(self._get_user))
        app.router.add_route("POST", "/_forge/faults", self._admin_add_fault)
        app.router.add_route("DELETE", "/_forge/faults", self._admin_clear_faults)
        return app

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() in ("token", "bearer") and hmac.compare_digest(value.strip(), self.token)

    def _principal(self, request: web.Request) -> _Principal | None:
        """The forge's user for its token, an App installation for an installation token, else None."""
        if self._authorized(request):
            return _Principal(self.user)
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() in ("token", "bearer") and value.strip():
            return self._installation_principal(value.strip())
        return None

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
        app_route = request.path.startswith("/app/")  # authenticated by the App's JWT in the handler
        principal = None if app_route else self._principal(request)
        headers["x-github-request-id"] = uuid.uuid4().hex[:20].upper()
        headers["x-github-api-version-selected"] = _API_VERSION
        headers["x-github-media-type"] = "github.v3; format=json"
        if fault is not None:
            fault_name = fault.kind
            answer = self._fault_answer(fault, headers)
            response = _json(answer.status, answer.body, answer.headers)
        elif not app_route and principal is None:
            message = "Requires authentication" if "Authorization" not in request.headers else "Bad credentials"
            response = _json(401, p.basic_error(message, 401), headers)
        else:
            if principal is not None:
                request[_PRINCIPAL] = principal
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
            if call.outbox and answer.status < 400:  # webhooks of what the request changed
                await self._deliver(call.outbox)
            return _json(answer.status, answer.body, answer.headers)

        return handle

    def _bind_plain(self, fn: Callable[[_Call], _Answer]) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            answer = fn(await _parse(request))
            return _json(answer.status, answer.body, answer.headers)

        return handle

    def _dispatch(self, fn: Callable[[_Repo, _Call], _Answer], call: _Call) -> _Answer:
        try:
            with self._lock:
                repo = self._find(call.params["owner"], call.params["repo"])
                if repo is None or not call.principal.may_access(repo.full_name):  # an App sees its repos only
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

    def _get_user(self, call: _Call) -> _Answer:
        if call.principal.repositories is not None:  # an installation token is no user
            doc = "https://docs.github.com/rest/users/users#get-the-authenticated-user"
            return _Answer(403, p.basic_error("Resource not accessible by integration", 403, doc))
        return _Answer(200, self._user(self.user))
