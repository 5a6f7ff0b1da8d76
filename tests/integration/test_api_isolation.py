"""REST isolation and security: a token of tenant A never reads or changes B's data, whatever ids it
crafts; dead letters are per tenant; the GitHub webhook needs its signature and is replay-safe."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiokafka import AIOKafkaProducer
from tests.support.api import World, client, make_world

from cloudops.api.app import create_api
from cloudops.embedded.broker import EmbeddedBroker
from cloudops.schemas.events import DeadLetter
from cloudops.service import targets
from cloudops.service.context import Caller
from cloudops.service.pull_requests import signature_for
from cloudops.service.tokens import create_token, revoke_token
from cloudops.sinks.postgres.recommendations import RecommendationStore
from cloudops.topics.admin import ensure_topics
from cloudops.topics.codec import encode_record

pytestmark = pytest.mark.integration

SECRET = "webhook-secret"


@pytest.fixture
async def world(
    tmp_path: Path, chdb_dsn: str, postgres_db: str, redis_url: str, unique: str, broker: EmbeddedBroker
) -> World:
    w = await make_world(tmp_path, chdb_dsn, postgres_db, redis_url, unique)
    w.settings = w.settings.with_overrides(
        kafka={"bootstrap_servers": broker.bootstrap_servers}, github={"webhook_secret": SECRET}
    )
    return w


@pytest.fixture
async def api(world: World) -> AsyncIterator[Any]:
    app = create_api(world.settings, graphql=False)
    yield app
    await app.state.api.close()


def _rows(dsn: str, query: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params).fetchall()


async def test_tenant_a_never_reads_or_changes_b(api: Any, world: World) -> None:
    a = world.headers("a")
    dsn = world.settings.postgres.dsn or ""
    b_file, b_fp = world.files[world.b][0], world.recommendations[world.b][0]
    async with client(api) as http:
        # Lists hold only A's objects (both tenants have a source "main" and three files).
        assert [s["bucket"] for s in (await http.get("/v1/sources", headers=a)).json()["items"]] == [f"bills-{world.a}"]
        files = (await http.get("/v1/files", headers=a)).json()["items"]
        assert sorted(f["file_id"] for f in files) == sorted(world.files[world.a])
        recs = (await http.get("/v1/recommendations", headers=a)).json()["items"]
        assert sorted(r["fingerprint"] for r in recs) == sorted(world.recommendations[world.a])
        # Crafted ids of B's objects read as not found, never as B's data.
        for path in (f"/v1/files/{b_file}", f"/v1/recommendations/{b_fp}"):
            r = await http.get(path, headers=a)
            assert r.status_code == 404, (path, r.text)
            # Nothing of B is disclosed, not even its tenant id (beyond the id A itself sent).
            assert world.b not in r.json()["detail"].replace(path.rsplit("/", 1)[1], "")
        r = await http.post(f"/v1/recommendations/{b_fp}/dismiss", json={"reason": "crafted"}, headers=a)
        assert r.status_code == 404
        # The tenant in a body or query is never honoured: it comes from the token.
        r = await http.post(
            "/v1/sources", json={"id": "evil", "provider": "aws", "bucket": "x", "tenant": world.b}, headers=a
        )
        assert r.status_code == 422
        r = await http.get("/v1/sources", params={"tenant": world.b}, headers=a)
        assert [s["bucket"] for s in r.json()["items"]] == [f"bills-{world.a}"]
        # A's source "main" changes A's row only.
        await http.patch("/v1/sources/main", json={"enabled": False}, headers=a)
        b_sources = (await http.get("/v1/sources", headers=world.headers("b"))).json()["items"]
        assert [s["enabled"] for s in b_sources] == [True]
        # Costs: each tenant's totals are its own.
        totals = {}
        for who in ("a", "b"):
            body = (await http.get("/v1/costs", params={"metric": "Rows"}, headers=world.headers(who))).json()
            totals[who] = int(body["rows"][0]["Rows"])
        assert totals == {"a": 6000, "b": 2000}
        # Tokens: A cannot list or revoke B's tokens.
        b_token_id = world.tokens["b"].split("_")[1]
        assert (await http.delete(f"/v1/tokens/{b_token_id}", headers=a)).status_code == 404
        r = await http.get("/v1/tokens", params={"tenant": world.b}, headers=a)
        assert r.status_code == 403
        assert (await http.get("/v1/tenant", headers=world.headers("b"))).json()["id"] == world.b
    store = RecommendationStore(dsn, world.b)
    assert store.get(b_fp).state == "open"  # type: ignore[union-attr]
    assert _rows(
        dsn, "SELECT count(*) FROM public.audit_log WHERE tenant = %s AND actor LIKE %s", [world.b, "token:%"]
    ) == [(0,)]


async def test_expired_revoked_and_wrong_scope_tokens(api: Any, world: World) -> None:
    dsn = world.settings.postgres.dsn or ""
    short = create_token(
        dsn,
        tenant=world.a,
        scopes=["costs:read"],
        name="short",
        expires_at=datetime.now(UTC) + timedelta(seconds=2),
        actor="t",
    )
    async with client(api) as http:
        h = {"Authorization": f"Bearer {short.secret}"}
        assert (await http.get("/v1/tenant", headers=h)).status_code == 200
        await asyncio.sleep(2.5)
        r = await http.get("/v1/tenant", headers={**h, "X-Request-Id": "expired-1"})
        assert (r.status_code, r.json()["detail"]) == (401, "token expired")
        revoke_token(dsn, world.tokens["a_costs"].split("_")[1], actor="t")
        r = await http.get("/v1/costs", headers={**world.headers("a_costs"), "X-Request-Id": "revoked-1"})
        assert (r.status_code, r.json()["detail"]) == (401, "token revoked")
    denied = _rows(
        dsn,
        "SELECT request_id, after->>'reason' FROM public.audit_log WHERE tenant = %s AND action = 'auth.denied'",
        [world.a],
    )
    assert ("expired-1", "expired") in denied
    assert ("revoked-1", "revoked") in denied


async def _dead_letter(bootstrap: str, tenant: str, reason: str) -> None:
    from cloudops.settings import KafkaSettings

    await ensure_topics(KafkaSettings(bootstrap_servers=bootstrap))
    letter = DeadLetter(
        source_topic="billing-files",
        value_b64=DeadLetter.b64(json.dumps({"tenant": tenant}).encode()),
        error_kind="bad_data",
        reason=reason,
        app_version="test",
        tenant=tenant,
        file_url=f"s3://bills-{tenant}/x.csv",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait("billing-files.dlq", key=tenant.encode(), value=encode_record(letter))
    finally:
        await producer.stop()


async def test_dead_letters_per_tenant(api: Any, world: World) -> None:
    bootstrap = world.settings.kafka.bootstrap_servers
    await _dead_letter(bootstrap, world.a, "bad header (A)")
    await _dead_letter(bootstrap, world.b, "bad header (B)")
    async with client(api) as http:
        mine = (
            await http.get("/v1/dead-letters", params={"topic": "billing-files.dlq"}, headers=world.headers("a"))
        ).json()
        assert [d["reason"] for d in mine["items"]] == ["bad header (A)"]
        every = (
            await http.get("/v1/dead-letters", params={"topic": "billing-files.dlq"}, headers=world.headers("admin"))
        ).json()
        assert sorted(d["reason"] for d in every["items"]) == ["bad header (A)", "bad header (B)"]
        b_position = next(d["position"] for d in every["items"] if d["tenant"] == world.b)
        assert (await http.get(f"/v1/dead-letters/{b_position}", headers=world.headers("a"))).status_code == 404
        shown = (await http.get(f"/v1/dead-letters/{b_position}", headers=world.headers("admin"))).json()
        assert shown["detail"]["value"] == {"tenant": world.b}
        r = await http.post("/v1/dead-letters/replay", json={"positions": [b_position]}, headers=world.headers("a"))
        assert r.status_code == 404
        dry = await http.post(
            "/v1/dead-letters/replay", json={"positions": [b_position], "dry_run": True}, headers=world.headers("admin")
        )
        assert dry.json() == {"replayed": [b_position], "skipped": [], "dry_run": True}
        assert (await http.get("/v1/dead-letters", headers=world.headers("a_costs"))).status_code == 403


async def test_github_webhook_signed_and_replay_safe(api: Any, world: World) -> None:
    dsn = world.settings.postgres.dsn or ""
    caller = Caller(actor="test", tenant=world.a, settings=world.settings)
    targets.set_target(caller, "infra", repository="acme/infra", token_ref="env:GITHUB_TOKEN")
    fp = world.recommendations[world.a][0]
    RecommendationStore(dsn, world.a).set_state(
        fp, "pr_open", pr_number=7, pr_url="https://github.com/acme/infra/pull/7"
    )
    payload = {
        "action": "closed",
        "repository": {"full_name": "acme/infra"},
        "pull_request": {
            "number": 7,
            "state": "closed",
            "merged": True,
            "html_url": "https://github.com/acme/infra/pull/7",
        },
    }
    body = json.dumps(payload).encode()
    headers = {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "d-1", "Content-Type": "application/json"}
    async with client(api) as http:
        bad = await http.post(
            "/v1/webhooks/github", content=body, headers={**headers, "X-Hub-Signature-256": "sha256=00"}
        )
        assert bad.status_code == 403
        good = {**headers, "X-Hub-Signature-256": signature_for(SECRET, body)}
        done = await http.post("/v1/webhooks/github", content=body, headers=good)
        assert done.status_code == 200, done.text
        assert done.json()["moved"] == [{"tenant": world.a, "fingerprint": fp, "state": "merged", "pr_number": 7}]
        again = await http.post("/v1/webhooks/github", content=body, headers=good)
        assert again.status_code == 202
        shown = (await http.get(f"/v1/recommendations/{fp}", headers=world.headers("a"))).json()
    assert shown["state"] == "merged"
    assert Decimal(shown["monthly_savings"]) > 0
