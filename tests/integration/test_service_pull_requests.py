"""Routing out and the PR loop against real PostgreSQL: per-tenant Terraform targets; GitHub webhooks
(HMAC-verified, replay-safe by delivery id) and the polling fallback move recommendations to merged
or dismissed."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from tests.support.tenancy import make_recommendation

from cloudops.service import Caller, Forbidden, InvalidInput
from cloudops.service import targets as targets_svc
from cloudops.service.pull_requests import handle_github_webhook, poll_pull_requests, signature_for
from cloudops.settings import Settings
from cloudops.sinks.postgres import migrate
from cloudops.sinks.postgres.audit_trail import read_trail
from cloudops.sinks.postgres.recommendations import RecommendationStore
from cloudops.sinks.postgres.tenants import register_tenant

pytestmark = pytest.mark.integration
SECRET = "hook-secret"


def _payload(repo: str, number: int, *, merged: bool, action: str = "closed") -> bytes:
    url = f"https://github.com/{repo}/pull/{number}"
    doc = {
        "action": action,
        "number": number,
        "pull_request": {"number": number, "state": "closed", "merged": merged, "html_url": url},
        "repository": {"full_name": repo},
    }
    return json.dumps(doc).encode()


def _deliver(settings: Settings, body: bytes, delivery: str, *, signature: str | None = None) -> Any:
    sig = signature if signature is not None else signature_for(SECRET, body)
    return handle_github_webhook(settings, event="pull_request", delivery_id=delivery, signature=sig, body=body)


async def test_two_tenants_two_repositories_merged_and_dismissed(
    postgres_db: str, tmp_path: Path, tenant_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(app={"work_dir": tmp_path}, postgres={"dsn": postgres_db}, github={"webhook_secret": SECRET})
    recs = {}
    for t, repo in ((f"{tenant_id}a", "acme/infra"), (f"{tenant_id}b", "beta/terraform")):
        migrate(postgres_db, t)
        register_tenant(postgres_db, t)
        me = Caller(actor="cli:ops", tenant=t, settings=settings)
        target = targets_svc.set_target(
            me, "main", repository=repo, token_ref="env:GH_TOKEN", state_refs=[f"s3://state-{t}/prod.tfstate"]
        )
        assert target.repository == repo
        store = RecommendationStore(postgres_db, t)
        rec = make_recommendation(t, "vol-1", "50.00")
        store.upsert([rec])
        store.set_state(rec.fingerprint, "pr_open", pr_number=7, pr_url=f"https://github.com/{repo}/pull/7")
        recs[t] = rec.fingerprint
    a, b = recs

    # Routing out: each tenant's PRs go to its own repository, with its own token.
    monkeypatch.setenv("GH_TOKEN", "ghp_test_only")
    routes = {t: targets_svc.routes_for(Caller(actor="agent:propose", tenant=t, settings=settings)) for t in recs}
    assert {t: [r.target.repository for r in rs] for t, rs in routes.items()} == {
        a: ["acme/infra"],
        b: ["beta/terraform"],
    }
    assert routes[a][0].token is not None
    assert routes[a][0].token.get_secret_value() == "ghp_test_only"
    assert "ghp_test_only" not in repr(routes[a][0])

    with pytest.raises(InvalidInput, match="never a token"):
        targets_svc.set_target(
            Caller(actor="x", tenant=a, settings=settings), "t2", repository="a/b", token_ref="ghp_x"
        )
    with pytest.raises(Forbidden):
        _deliver(settings, _payload("acme/infra", 7, merged=True), "d-0", signature="sha256=00")

    merged = _deliver(settings, _payload("acme/infra", 7, merged=True), "d-1")
    assert merged.status == 200
    assert [(m.tenant, m.state) for m in merged.moved] == [(a, "merged")]
    closed = _deliver(settings, _payload("beta/terraform", 7, merged=False), "d-2")
    assert [(m.tenant, m.state) for m in closed.moved] == [(b, "dismissed")]
    assert RecommendationStore(postgres_db, a).get(recs[a]).state == "merged"  # type: ignore[union-attr]
    assert RecommendationStore(postgres_db, b).get(recs[b]).state == "dismissed"  # type: ignore[union-attr]

    again = _deliver(settings, _payload("acme/infra", 7, merged=True), "d-1")  # redelivered
    assert again.status == 202
    assert "handled before" in again.message
    other = _deliver(settings, _payload("acme/infra", 8, merged=True), "d-3")
    assert other.status == 202
    assert other.moved == []
    # GitHub's default content type, form: the JSON is the url-encoded `payload` field.
    form = b"payload=" + urllib.parse.quote_plus(_payload("acme/infra", 8, merged=True)).encode()
    as_form = _deliver(settings, form, "d-4")
    assert as_form.status == 202
    assert as_form.moved == []
    with pytest.raises(Forbidden):  # the signature is over the body as sent
        _deliver(settings, form, "d-5", signature=signature_for(SECRET, _payload("acme/infra", 8, merged=True)))
    trail = read_trail(postgres_db, b)
    assert trail[0].action == "recommendation.dismissed"
    assert trail[0].request_id == "d-2"
    assert trail[0].actor == "github:webhook"

    # Polling fallback: a PR closed while its webhook was lost.
    store = RecommendationStore(postgres_db, a)
    rec2 = make_recommendation(a, "vol-2", "20.00")
    store.upsert([rec2])
    store.set_state(rec2.fingerprint, "pr_open", pr_number=9, pr_url="https://github.com/acme/infra/pull/9")
    asked: list[tuple[str, int]] = []

    async def fetch(repo: str, number: int) -> dict[str, Any]:
        asked.append((repo, number))
        return {"number": number, "state": "closed", "merged": False}

    moved = await poll_pull_requests(Caller(actor="agent:propose", tenant=a, settings=settings), fetch)
    assert asked == [("acme/infra", 9)]
    assert [(m.fingerprint, m.state) for m in moved] == [(rec2.fingerprint, "dismissed")]
    assert await poll_pull_requests(Caller(actor="agent:propose", tenant=a, settings=settings), fetch) == []
