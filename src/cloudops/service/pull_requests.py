"""The PR loop closes: a pull request's fate comes back to its recommendation.

:func:`handle_github_webhook` takes a GitHub ``pull_request`` webhook (the API mounts it at a
route): it verifies ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body under
``CLOUDOPS_GITHUB__WEBHOOK_SECRET``, constant-time compare), records the ``X-GitHub-Delivery``
id so a redelivered or replayed delivery changes nothing twice, finds the tenant(s) whose
Terraform target is the PR's repository and the recommendation whose PR it is, and moves it
to ``merged`` (closed merged) or ``dismissed`` (closed unmerged). The delivery record, the
state change and the audit rows commit in one transaction.

:func:`poll_pull_requests` is the fallback when webhooks are lost: it asks GitHub (through a
callable the caller provides, e.g. the githubkit sink) for the state of each ``pr_open``
recommendation of a tenant and applies the same moves.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cloudops.errors import ConfigError
from cloudops.service.context import Caller, Forbidden, InvalidInput, audit, control_plane
from cloudops.settings import Settings
from cloudops.sinks.postgres.recommendations import IllegalTransition, RecommendationStore
from cloudops.sinks.postgres.targets import record_delivery, targets_for_repository

__all__ = ["PrFate", "WebhookOutcome", "handle_github_webhook", "poll_pull_requests", "signature_for"]


@dataclass(frozen=True, slots=True)
class PrFate:
    """One recommendation moved because of its PR."""

    tenant: str
    fingerprint: str
    state: str
    pr_number: int


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    """What a delivery did: ``status`` (HTTP-like: 200 handled, 202 ignored or duplicate), a message, the moves."""

    status: int
    message: str
    moved: list[PrFate] = field(default_factory=list)


def signature_for(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _fate(pr: Mapping[str, Any]) -> str | None:
    if pr.get("state") != "closed":
        return None
    return "merged" if pr.get("merged") or pr.get("merged_at") else "dismissed"


def _apply(
    caller: Caller, conn: Any, tenant: str, number: int, html_url: str | None, state: str, why: str
) -> PrFate | None:
    bound = caller.acting_for(tenant)
    store = RecommendationStore(conn, tenant, actor=caller.actor)
    for rec in store.list("pr_open"):
        if rec.pr_number != number or (html_url and rec.pr_url and rec.pr_url != html_url):
            continue
        try:
            after = store.set_state(rec.fingerprint, state, reason=why, actor=caller.actor)  # type: ignore[arg-type]
        except IllegalTransition:
            return None
        audit(
            conn,
            bound,
            f"recommendation.{state}",
            target=f"recommendation:{rec.fingerprint}",
            before={"state": rec.state, "pr_number": number},
            after={"state": after.state, "reason": why, "pr_url": after.pr_url},
        )
        return PrFate(tenant, rec.fingerprint, state, number)
    return None


def _payload_text(body: bytes) -> bytes | str:
    """The JSON of a delivery: the body itself (content type ``json``) or its ``payload`` field
    (``form``, GitHub's default content type: ``payload=<url-encoded JSON>``). The signature is
    checked over the body as sent, before this."""
    if body.startswith(b"payload="):
        fields = urllib.parse.parse_qs(body.decode("ascii", "replace"), max_num_fields=1)
        return fields.get("payload", [""])[0]
    return body


def handle_github_webhook(
    settings: Settings, *, event: str, delivery_id: str, signature: str | None, body: bytes
) -> WebhookOutcome:
    """Handle one webhook delivery (blocking). Raises ConfigError (no webhook secret configured),
    Forbidden (missing or wrong signature), InvalidInput (a body that is not a GitHub payload).
    Idempotent by delivery id."""
    secret = settings.github.webhook_secret
    if secret is None:
        raise ConfigError("GitHub webhooks need CLOUDOPS_GITHUB__WEBHOOK_SECRET")
    if not signature or not hmac.compare_digest(signature_for(secret.get_secret_value(), body), signature):
        raise Forbidden("X-Hub-Signature-256 does not match the body")
    if not delivery_id:
        raise InvalidInput("X-GitHub-Delivery is missing")
    if event == "ping":
        return WebhookOutcome(200, "pong")
    try:
        doc = json.loads(_payload_text(body))
        repository = str(doc["repository"]["full_name"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"not a GitHub webhook payload: {exc!r}") from None
    caller = Caller(actor="github:webhook", tenant=None, settings=settings, request_id=delivery_id, platform=True)
    with control_plane(caller) as conn:
        pr = doc.get("pull_request") if event == "pull_request" else None
        state = _fate(pr) if isinstance(pr, dict) and doc.get("action") == "closed" else None
        outcome = "ignored" if state is None else state
        if not record_delivery(conn, delivery_id, event=event, repository=repository, outcome=outcome):
            return WebhookOutcome(202, f"delivery {delivery_id} was handled before")
        if state is None or not isinstance(pr, dict):
            return WebhookOutcome(202, f"{event}/{doc.get('action')} ignored")
        number = int(pr["number"])
        why = f"PR #{number} {'merged' if state == 'merged' else 'closed without merging'} (webhook)"
        moved = []
        for tenant, _target in targets_for_repository(conn, repository):
            fate = _apply(caller, conn, tenant, number, pr.get("html_url"), state, why)
            if fate is not None:
                moved.append(fate)
    if not moved:
        return WebhookOutcome(202, f"{repository}#{number} is no recommendation's open PR")
    return WebhookOutcome(200, f"{repository}#{number}: {state}", moved)


async def poll_pull_requests(
    caller: Caller, fetch_pull: Callable[[str, int], Awaitable[Mapping[str, Any]]]
) -> list[PrFate]:
    """Ask GitHub for every ``pr_open`` recommendation of the caller's tenant and apply closed PRs' fates.

    ``fetch_pull(repository, number)`` returns the REST pull-request object (``state``,
    ``merged``, ``html_url``). The repository is taken from the PR URL recorded with the
    recommendation. Idempotent.
    """
    import asyncio

    def open_prs() -> list[tuple[str, int, str]]:
        with control_plane(caller) as conn:
            recs = RecommendationStore(conn, caller.tenant_id).list("pr_open")
        out = []
        for r in recs:
            if r.pr_number is not None and r.pr_url and "/pull/" in r.pr_url:
                owner_name = "/".join(r.pr_url.split("/pull/")[0].rstrip("/").split("/")[-2:])
                out.append((owner_name, r.pr_number, r.pr_url))
        return out

    moved: list[PrFate] = []
    for repository, number, url in await asyncio.to_thread(open_prs):
        state = _fate(await fetch_pull(repository, number))
        if state is None:
            continue
        why = f"PR #{number} {'merged' if state == 'merged' else 'closed without merging'} (polled)"

        def apply(state: str = state, number: int = number, url: str = url, why: str = why) -> PrFate | None:
            with control_plane(caller) as conn:
                return _apply(caller, conn, caller.tenant_id, number, url, state, why)

        fate = await asyncio.to_thread(apply)
        if fate is not None:
            moved.append(fate)
    return moved
