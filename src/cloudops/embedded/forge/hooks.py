"""Repository webhooks: create, list, read, update and delete hooks; deliver events; list and redeliver deliveries.

Shaped like GitHub's (https://docs.github.com/rest/repos/webhooks and .../webhooks/repo-deliveries,
https://docs.github.com/webhooks/webhook-events-and-payloads#pull_request): a hook subscribes to
events (``pull_request``, ``*``; ``ping`` always) and gets each one POSTed to its ``config.url``
with ``X-GitHub-Event``, ``X-GitHub-Delivery`` (a uuid), ``X-GitHub-Hook-ID``,
``X-Hub-Signature-256`` (HMAC-SHA256 of the body under the hook's secret, when it has one) and
``User-Agent: GitHub-Hookshot/...``. A new hook is pinged, as on GitHub. The payload names the
repository's GitHub App installation (``installation.id``) when one covers it.

Handlers only queue deliveries (on :attr:`_Call.outbox`, built under the forge's lock from the
state they just changed); the server sends them once the handler is done and the lock is free,
before it answers the request, so a caller sees the hook's answer recorded when its call returns.
Every attempt is kept in the repository's state file with the status code the hook answered;
a redelivery (``POST .../deliveries/{id}/attempts``) sends the same body under the same
``X-GitHub-Delivery`` guid, ``redelivery: true``.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp

from cloudops.embedded.forge import payloads as p
from cloudops.embedded.forge.apps import AppRoutes
from cloudops.embedded.forge.base import (
    Json,
    Route,
    _Answer,
    _ApiError,
    _Call,
    _invalid,
    _not_found,
    _now_iso,
    _object,
    _Repo,
)

__all__ = ["HookRoutes"]

_log = logging.getLogger(__name__)
_DOC = "https://docs.github.com/rest/repos/webhooks"
_DELIVERIES_DOC = "https://docs.github.com/rest/repos/webhooks#list-deliveries-for-a-repository-webhook"
_EVENTS = frozenset({"*", "ping", "pull_request", "push", "issues", "issue_comment"})
_USER_AGENT = "GitHub-Hookshot/cloudops-forge"
_TIMEOUT_S = 10.0  # GitHub gives a hook 10 seconds to answer
_ZEN = "Keep it logically awesome."


@dataclass(frozen=True)
class _Pending:
    """One delivery to send: everything taken from the state while the lock was held."""

    owner: str
    name: str
    hook_id: int
    url: str
    content_type: str
    secret: str | None
    event: str
    action: str | None
    guid: str
    payload: Json
    redelivery: bool
    installation_id: int | None
    repository_id: int


class HookRoutes(AppRoutes):
    """Webhook handlers and the delivery of events to hooks."""

    # -- public ---------------------------------------------------------------------------------

    def hook_deliveries(self, owner: str, name: str, hook_id: int | None = None) -> list[Json]:
        """Copies of the delivery records of ``owner/name`` (one hook's with ``hook_id``), oldest first.

        Each has ``id``, ``guid``, ``event``, ``action``, ``redelivery``, ``status_code`` (0 when
        the hook could not be reached), ``status``, ``request`` {headers, payload} and ``response``
        {headers, payload}."""
        with self._lock:
            repo = self._find(owner, name)
            if repo is None:
                raise KeyError(f"{owner}/{name}")
            records = repo.state.get("deliveries", [])
            return [copy.deepcopy(d) for d in records if hook_id is None or d["hook_id"] == hook_id]

    # -- queueing (handlers, lock held) ------------------------------------------------------------

    @staticmethod
    def _subscribed(repo: _Repo, event: str) -> list[Json]:
        """The active hooks of ``repo`` that want ``event``."""
        hooks = repo.state.get("hooks", {}).values()
        return [h for h in hooks if h["active"] and (event in h["events"] or "*" in h["events"])]

    def _emit(self, repo: _Repo, call: _Call, event: str, payload: Json) -> None:
        """Queue ``event`` with ``payload`` (``repository``, ``sender`` and ``installation`` added) for
        every active hook of ``repo`` subscribed to it."""
        hooks = self._subscribed(repo, event)
        if not hooks:
            return
        body = dict(payload)
        body["repository"] = self._repo_payload(repo)
        body["sender"] = self._user(call.actor or self.user)
        installation = self._installation_of(repo.full_name)
        if installation is not None:
            body["installation"] = {"id": installation, "node_id": p.node_id("MDIz", "installation", installation)}
        for hook in hooks:
            call.outbox.append(self._pending(repo, hook, event, body, guid=str(uuid.uuid4()), redelivery=False))

    def _emit_pull_request(self, repo: _Repo, call: _Call, action: str, record: Json) -> None:
        """Queue a ``pull_request`` event (``opened``, ``closed``, ``reopened``) for ``record``."""
        if not self._subscribed(repo, "pull_request"):
            return  # building the payload costs git calls: only for a repository with hooks
        payload = {"action": action, "number": int(record["number"]), "pull_request": self._pull_payload(repo, record)}
        self._emit(repo, call, "pull_request", payload)

    def _pending(self, repo: _Repo, hook: Json, event: str, body: Json, *, guid: str, redelivery: bool) -> _Pending:
        installation = body.get("installation")
        return _Pending(
            owner=repo.owner,
            name=repo.name,
            hook_id=int(hook["id"]),
            url=hook["config"]["url"],
            content_type=hook["config"].get("content_type", "form"),
            secret=hook.get("secret"),
            event=event,
            action=body.get("action"),
            guid=guid,
            payload=copy.deepcopy(body),
            redelivery=redelivery,
            installation_id=int(installation["id"]) if isinstance(installation, dict) else None,
            repository_id=int(repo.state["id"]),
        )

    def _installation_of(self, full_name: str) -> int | None:
        """The id of a GitHub App installation covering ``full_name`` (the first registered), else None."""
        for app in self._apps_registry().apps.values():
            for installation_id, repositories in app.installations.items():
                if full_name.lower() in repositories:
                    return int(installation_id)
        return None

    # -- sending (no lock held) ----------------------------------------------------------------------

    async def _deliver(self, outbox: list[Any]) -> None:
        """POST every queued delivery to its hook and record what the hook answered."""
        timeout = aiohttp.ClientTimeout(total=_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for pending in outbox:
                await self._send(session, pending)

    async def _send(self, session: aiohttp.ClientSession, pending: _Pending) -> None:
        raw = json.dumps(pending.payload).encode()
        if pending.content_type == "json":
            data, content_type = raw, "application/json"
        else:  # "form": GitHub sends payload=<json>
            data, content_type = urlencode({"payload": raw.decode()}).encode(), "application/x-www-form-urlencoded"
        headers = {
            "Accept": "*/*",
            "Content-Type": content_type,
            "User-Agent": _USER_AGENT,
            "X-GitHub-Event": pending.event,
            "X-GitHub-Delivery": pending.guid,
            "X-GitHub-Hook-ID": str(pending.hook_id),
            "X-GitHub-Hook-Installation-Target-Type": "repository",
            "X-GitHub-Hook-Installation-Target-ID": str(pending.repository_id),
        }
        if pending.secret:
            key = pending.secret.encode()
            headers["X-Hub-Signature"] = "sha1=" + hmac.new(key, data, hashlib.sha1).hexdigest()
            headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(key, data, hashlib.sha256).hexdigest()
        started = time.monotonic()
        response: Json = {"headers": {}, "payload": None}
        try:
            async with session.post(pending.url, data=data, headers=headers, allow_redirects=False) as answer:
                text = await answer.text(errors="replace")
                code, status = answer.status, answer.reason or "OK"
                response = {"headers": dict(answer.headers), "payload": text}
        except (aiohttp.ClientError, TimeoutError) as exc:
            code, status = 0, f"failed to connect: {type(exc).__name__}"
            _log.info("forge: webhook %s to %s failed: %s", pending.guid, pending.url, exc)
        record: Json = {
            "id": 0,
            "guid": pending.guid,
            "hook_id": pending.hook_id,
            "delivered_at": _now_iso(),
            "redelivery": pending.redelivery,
            "duration": round(time.monotonic() - started, 3),
            "status": status,
            "status_code": code,
            "event": pending.event,
            "action": pending.action,
            "installation_id": pending.installation_id,
            "repository_id": pending.repository_id,
            "url": pending.url,
            "request": {"headers": headers, "payload": pending.payload},
            "response": response,
        }
        with self._lock:
            repo = self._find(pending.owner, pending.name)
            if repo is None:  # deleted meanwhile
                return
            record["id"] = repo.next_id()
            repo.state.setdefault("deliveries", []).append(record)
            hook = repo.state.get("hooks", {}).get(str(pending.hook_id))
            if hook is not None:
                state = "active" if 200 <= code < 300 else "failed"
                hook["last_response"] = {"code": code or None, "status": state, "message": status}
            repo.save()

    # -- routes ---------------------------------------------------------------------------------

    def _hook_routes(self) -> list[Route]:
        """The webhook routes."""
        r = "/repos/{owner}/{repo}/hooks"
        h = r + r"/{hook_id:\d+}"
        return [
            ("GET", r, self._list_hooks),
            ("POST", r, self._create_hook),
            ("GET", h, self._get_hook),
            ("PATCH", h, self._update_hook),
            ("DELETE", h, self._delete_hook),
            ("POST", h + "/pings", self._ping_hook),
            ("GET", h + "/deliveries", self._list_deliveries),
            ("GET", h + r"/deliveries/{delivery_id:\d+}", self._get_delivery),
            ("POST", h + r"/deliveries/{delivery_id:\d+}/attempts", self._redeliver),
        ]

    def _hook(self, repo: _Repo, call: _Call) -> Json:
        hook: Json | None = repo.state.get("hooks", {}).get(call.params["hook_id"])
        if hook is None:
            raise _not_found(f"{_DOC}#get-a-repository-webhook")
        return hook

    def _hook_payload(self, repo: _Repo, hook: Json) -> Json:
        api = f"{self.base_url}/repos/{repo.full_name}/hooks/{hook['id']}"
        config = {k: v for k, v in hook["config"].items() if k != "secret"}
        if hook.get("secret"):
            config["secret"] = "********"  # GitHub never shows a hook's secret
        return {
            "type": "Repository",
            "id": hook["id"],
            "name": "web",
            "active": hook["active"],
            "events": list(hook["events"]),
            "config": config,
            "updated_at": hook["updated_at"],
            "created_at": hook["created_at"],
            "url": api,
            "test_url": f"{api}/test",
            "ping_url": f"{api}/pings",
            "deliveries_url": f"{api}/deliveries",
            "last_response": hook.get("last_response", {"code": None, "status": "unused", "message": None}),
        }

    @staticmethod
    def _config(value: Any, current: Json | None) -> tuple[Json, str | None]:
        """(config without the secret, the secret) from a request's ``config``; 422 without a usable URL."""
        if not isinstance(value, dict):
            raise _invalid("Hook", "config", "missing_field")
        config = dict(current or {})
        config.update({k: v for k, v in value.items() if k != "secret"})
        url = config.get("url")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise _invalid("Hook", "url", "custom", "url is missing or not a valid http(s) URL")
        if config.setdefault("content_type", "form") not in ("json", "form"):
            raise _invalid("Hook", "content_type")
        config.setdefault("insecure_ssl", "0")
        secret = value.get("secret")
        if secret is not None and not isinstance(secret, str):
            raise _invalid("Hook", "secret")
        return config, secret

    @staticmethod
    def _events(value: Any) -> list[str]:
        if not isinstance(value, list) or not value or not all(isinstance(e, str) and e in _EVENTS for e in value):
            known = ", ".join(sorted(_EVENTS))
            raise _invalid("Hook", "events", "custom", f"events must be a non-empty list of {known}")
        return sorted(set(value))

    def _list_hooks(self, repo: _Repo, call: _Call) -> _Answer:
        hooks = sorted(repo.state.get("hooks", {}).values(), key=lambda h: int(h["id"]))
        return _Answer(200, [self._hook_payload(repo, h) for h in hooks])

    def _create_hook(self, repo: _Repo, call: _Call) -> _Answer:
        body = _object(call.body)
        if body.get("name", "web") != "web":
            raise _invalid("Hook", "name", "custom", "name must be 'web'")
        config, secret = self._config(body.get("config"), None)
        events = self._events(body.get("events", ["push"]))
        now = _now_iso()
        hook: Json = {
            "id": repo.next_id(),
            "active": bool(body.get("active", True)),
            "events": events,
            "config": config,
            "secret": secret or None,
            "created_at": now,
            "updated_at": now,
        }
        repo.state.setdefault("hooks", {})[str(hook["id"])] = hook
        repo.save()
        if hook["active"]:  # GitHub pings a new hook
            self._ping(repo, call, hook)
        payload = self._hook_payload(repo, hook)
        return _Answer(201, payload, {"Location": payload["url"]})

    def _ping(self, repo: _Repo, call: _Call, hook: Json) -> None:
        """Queue a ``ping`` event for ``hook`` only."""
        body = {
            "zen": _ZEN,
            "hook_id": hook["id"],
            "hook": self._hook_payload(repo, hook),
            "repository": self._repo_payload(repo),
            "sender": self._user(call.actor or self.user),
        }
        call.outbox.append(self._pending(repo, hook, "ping", body, guid=str(uuid.uuid4()), redelivery=False))

    def _get_hook(self, repo: _Repo, call: _Call) -> _Answer:
        return _Answer(200, self._hook_payload(repo, self._hook(repo, call)))

    def _update_hook(self, repo: _Repo, call: _Call) -> _Answer:
        hook = self._hook(repo, call)
        body = _object(call.body)
        if "config" in body:
            config, secret = self._config(body["config"], hook["config"])
            hook["config"] = config
            if "secret" in body["config"]:
                hook["secret"] = secret or None
        if "events" in body:
            hook["events"] = self._events(body["events"])
        for key in ("add_events", "remove_events"):
            if key in body:
                changed = set(self._events(body[key]))
                events = set(hook["events"]) | changed if key == "add_events" else set(hook["events"]) - changed
                hook["events"] = sorted(events)
        if "active" in body:
            hook["active"] = bool(body["active"])
        hook["updated_at"] = _now_iso()
        repo.save()
        return _Answer(200, self._hook_payload(repo, hook))

    def _delete_hook(self, repo: _Repo, call: _Call) -> _Answer:
        hook = self._hook(repo, call)
        del repo.state["hooks"][str(hook["id"])]
        repo.save()
        return _Answer(204, None)

    def _ping_hook(self, repo: _Repo, call: _Call) -> _Answer:
        self._ping(repo, call, self._hook(repo, call))
        return _Answer(204, None)

    @staticmethod
    def _delivery_summary(record: Json) -> Json:
        keys = ("id", "guid", "delivered_at", "redelivery", "duration", "status", "status_code", "event", "action")
        out = {k: record[k] for k in keys}
        out.update(
            installation_id=record["installation_id"],
            repository_id=record["repository_id"],
            throttled_at=None,
        )
        return out

    def _list_deliveries(self, repo: _Repo, call: _Call) -> _Answer:
        hook = self._hook(repo, call)
        records = [d for d in repo.state.get("deliveries", []) if d["hook_id"] == hook["id"]]
        if "redelivery" in call.query:
            wanted = call.query["redelivery"].lower() == "true"
            records = [d for d in records if d["redelivery"] == wanted]
        return _Answer(200, [self._delivery_summary(d) for d in reversed(records)])  # newest first

    def _delivery(self, repo: _Repo, call: _Call) -> Json:
        hook = self._hook(repo, call)
        wanted = int(call.params["delivery_id"])
        records: list[Json] = repo.state.get("deliveries", [])
        for record in records:
            if record["id"] == wanted and record["hook_id"] == hook["id"]:
                return record
        raise _not_found(_DELIVERIES_DOC)

    def _get_delivery(self, repo: _Repo, call: _Call) -> _Answer:
        record = self._delivery(repo, call)
        body = self._delivery_summary(record)
        body.update(url=record["url"], request=record["request"], response=record["response"])
        return _Answer(200, body)

    def _redeliver(self, repo: _Repo, call: _Call) -> _Answer:
        """Send a delivery again: the same body under the same guid, flagged as a redelivery."""
        record = self._delivery(repo, call)
        hook = self._hook(repo, call)
        if not hook["active"]:
            raise _ApiError(422, p.basic_error("Hook is not active", 422, _DELIVERIES_DOC))
        payload = record["request"]["payload"]
        call.outbox.append(self._pending(repo, hook, record["event"], payload, guid=record["guid"], redelivery=True))
        return _Answer(202, {})
