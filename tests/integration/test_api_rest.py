"""The REST API in process (httpx ASGI transport) against real PostgreSQL, Redis and chdb."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from tests.support.api import World, client, make_world

from cloudops.api.app import create_api
from cloudops.service import sources
from cloudops.service.context import Caller
from cloudops.service.costs import Costs
from cloudops.service.tokens import create_token
from cloudops.sinks.clickhouse.planner import Query
from cloudops.sinks.redis import publish_loaded

pytestmark = pytest.mark.integration


@pytest.fixture
async def world(tmp_path: Path, chdb_dsn: str, postgres_db: str, redis_url: str, unique: str) -> World:
    return await make_world(tmp_path, chdb_dsn, postgres_db, redis_url, unique)


@pytest.fixture
async def api(world: World) -> AsyncIterator[object]:
    app = create_api(world.settings, graphql=False)
    yield app
    await app.state.api.close()


def _audit(dsn: str, tenant: str, action: str) -> list[tuple[str, str | None, str | None]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT actor, target, request_id FROM public.audit_log WHERE tenant = %s AND action = %s ORDER BY id",
            [tenant, action],
        ).fetchall()
    return [(str(a), t, r) for a, t, r in rows]


async def test_health_ready_metrics_and_problems(api: object, world: World) -> None:
    async with client(api) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"postgres": "ok", "redis": "ok", "clickhouse": "ok"}
        missing = await http.get("/v1/sources", headers={"X-Request-Id": "req-abc"})
        assert missing.status_code == 401
        assert missing.headers["content-type"] == "application/problem+json"
        assert missing.headers["www-authenticate"] == "Bearer"
        assert missing.headers["x-request-id"] == "req-abc"
        body = missing.json()
        assert (body["status"], body["title"], body["request_id"], body["instance"]) == (
            401,
            "Unauthorized",
            "req-abc",
            "/v1/sources",
        )
        forged = await http.get("/v1/sources", headers={"Authorization": "Bearer cop_0123456789abcdef_" + "A" * 43})
        assert forged.status_code == 401
        bad_query = await http.get("/v1/costs?granularity=hourly", headers=world.headers("a"))
        assert bad_query.status_code == 422
        assert bad_query.json()["errors"]
        metrics = (await http.get("/metrics")).text
        assert 'cloudops_api_requests_total{method="GET",route="/v1/sources",status="401"}' in metrics
        assert "cloudops_api_auth_failures_total" in metrics


async def test_sources_files_periods_with_pagination_and_audit(api: object, world: World) -> None:
    a = world.headers("a")
    async with client(api) as http:
        for i in range(4):
            body = {"id": f"extra-{i}", "provider": "azure", "bucket": f"x-{world.a}", "prefix": f"p{i}/"}
            made = await http.post("/v1/sources", json=body, headers={**a, "X-Request-Id": f"mk-{i}"})
            assert made.status_code == 200, made.text
        seen, cursor = [], None
        while True:
            page = (
                await http.get("/v1/sources", params={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=a)
            ).json()
            seen += [s["id"] for s in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ["extra-0", "extra-1", "extra-2", "extra-3", "main"]
        patched = await http.patch("/v1/sources/extra-0", json={"enabled": False}, headers=a)
        assert patched.json()["enabled"] is False
        # The kind says where the objects live (the web UI offers uploads for s3 sources only).
        assert patched.json()["kind"] == "s3"
        caller = Caller(actor="test", tenant=world.a, settings=world.settings)
        endpoint = "https://acct.blob.core.windows.net"
        sources.add_source(caller, "blob", provider="azure", bucket="exports", kind="azure-blob", endpoint_url=endpoint)
        assert (await http.get("/v1/sources/blob", headers=a)).json()["kind"] == "azure-blob"
        assert (await http.delete("/v1/sources/blob", headers=a)).status_code == 204
        assert (await http.delete("/v1/sources/extra-1", headers=a)).status_code == 204
        assert (await http.get("/v1/sources/extra-1", headers=a)).status_code == 404

        files = (await http.get("/v1/files", params={"limit": 2}, headers=a)).json()
        assert len(files["items"]) == 2
        assert files["next_cursor"]
        rest = (await http.get("/v1/files", params={"cursor": files["next_cursor"]}, headers=a)).json()
        assert sorted(f["file_id"] for f in files["items"] + rest["items"]) == sorted(world.files[world.a])
        one = (await http.get(f"/v1/files/{world.files[world.a][0]}", headers=a)).json()
        assert (one["state"], one["source_id"]) == ("seen", "main")
        assert (await http.get("/v1/sources/main/files", headers=a)).json()["items"]
        assert (await http.get("/v1/periods", headers=a)).json() == {"items": [], "next_cursor": None}
        assert (await http.get("/v1/files", params={"cursor": "garbage!"}, headers=a)).status_code == 422

    token_id = world.tokens["a"].split("_")[1]
    audit = _audit(world.settings.postgres.dsn or "", world.a, "source.added")
    assert (f"token:{token_id}", "source:extra-2", "mk-2") in audit
    assert _audit(world.settings.postgres.dsn or "", world.a, "source.removed")[0][0] == f"token:{token_id}"


async def test_cost_queries_json_csv_etag_explain(api: object, world: World) -> None:
    a = world.headers("a_costs")
    params = {"by": "ServiceName", "metric": ["BilledCost", "Rows"], "from": "2025-01-01", "to": "2025-02-01"}
    async with client(api) as http:
        first = await http.get("/v1/costs", params=params, headers=a)
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["columns"] == ["ServiceName", "BilledCost", "Rows"]
        assert body["cached"] is False
        etag = first.headers["etag"]
        assert etag.startswith(f'"v{body["data_version"]}-')
        again = await http.get("/v1/costs", params=params, headers=a)
        assert again.json()["cached"] is True
        assert again.json()["rows"] == body["rows"]
        assert (await http.get("/v1/costs", params=params, headers={**a, "If-None-Match": etag})).status_code == 304

        as_csv = await http.get("/v1/costs", params={**params, "format": "csv"}, headers=a)
        assert as_csv.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert {r["ServiceName"]: Decimal(r["BilledCost"]) for r in table} == {
            r["ServiceName"]: Decimal(r["BilledCost"]) for r in body["rows"]
        }
        assert as_csv.headers["etag"] != etag

        typed = await http.post(
            "/v1/costs/query",
            json={
                "metrics": ["BilledCost", "Rows"],
                "group_by": ["ServiceName"],
                "start": "2025-01-01T00:00:00Z",
                "end": "2025-02-01T00:00:00Z",
            },
            headers=a,
        )
        assert typed.json()["rows"] == body["rows"]
        plan = (await http.post("/v1/costs/explain", json={"group_by": ["ServiceName"]}, headers=a)).json()
        assert plan["source"].startswith("rollup_")
        assert "SELECT" in plan["sql"]

        # A load bumps the data version: the old ETag no longer matches.
        await publish_loaded(world.settings.redis.url or "", world.a, "another-file")
        fresh = await http.get("/v1/costs", params=params, headers={**a, "If-None-Match": etag})
        assert fresh.status_code == 200
        assert fresh.headers["etag"] != etag

    # The answer is exactly what the service computes for this tenant.
    costs = Costs(world.settings)
    direct = await costs.query(
        Caller(actor="t", tenant=world.a, settings=world.settings),
        Query(metrics=("BilledCost",), group_by=("ServiceName",)),
        raw=True,
    )
    await costs.close()
    async with client(api) as http:
        raw = (await http.get("/v1/costs", params={"by": "ServiceName", "raw": "true"}, headers=a)).json()
    assert {r["ServiceName"]: Decimal(r["BilledCost"]) for r in raw["rows"]} == {r[0]: r[1] for r in direct.result.rows}


async def test_scopes_rate_limits_and_token_api(api: object, world: World) -> None:
    dsn = world.settings.postgres.dsn or ""
    async with client(api) as http:
        denied = await http.get("/v1/sources", headers={**world.headers("a_costs"), "X-Request-Id": "no-scope"})
        assert denied.status_code == 403
        assert "sources:read" in denied.json()["detail"]
        token_id = world.tokens["a_costs"].split("_")[1]
        assert (f"token:{token_id}", f"token:{token_id}", "no-scope") in _audit(dsn, world.a, "auth.denied")

        limited = create_token(
            dsn, tenant=world.a, scopes=["costs:read"], name="tight", expires_at=None, actor="t", rate_limit_per_min=3
        ).secret
        codes = [
            (await http.get("/v1/tenant", headers={"Authorization": f"Bearer {limited}"})).status_code for _ in range(4)
        ]
        assert codes[:3] == [200, 200, 200]
        assert codes[3] == 429
        last = await http.get("/v1/tenant", headers={"Authorization": f"Bearer {limited}"})
        assert 1 <= int(last.headers["retry-after"]) <= 60
        assert last.headers["content-type"] == "application/problem+json"

        # A tenant token with tokens:admin mints a narrower token for its own tenant, then revokes it.
        made = await http.post(
            "/v1/tokens", json={"name": "ui", "scopes": ["costs:read"], "expires": "1d"}, headers=world.headers("a")
        )
        assert made.status_code == 201, made.text
        child = made.json()
        assert child["token"]["tenant"] == world.a
        child_h = {"Authorization": f"Bearer {child['secret']}"}
        assert (await http.get("/v1/tenant", headers=child_h)).json()["id"] == world.a
        beyond = await http.post(
            "/v1/tokens", json={"name": "x", "scopes": ["tenants:admin"]}, headers=world.headers("a")
        )
        assert beyond.status_code in (403, 422)
        listed = (await http.get("/v1/tokens", headers=world.headers("a"))).json()["items"]
        assert child["token"]["id"] in [t["id"] for t in listed]
        assert all("secret" not in t for t in listed)
        gone = await http.delete(f"/v1/tokens/{child['token']['id']}", headers=world.headers("a"))
        assert gone.status_code == 200
        assert (await http.get("/v1/tenant", headers=child_h)).status_code == 401
        assert _audit(dsn, world.a, "token.revoked")[0][0] == f"token:{world.tokens['a'].split('_')[1]}"

        # Platform admin: manages tenants, reads no tenant's data.
        admin = world.headers("admin")
        names = [t["id"] for t in (await http.get("/v1/tenants", headers=admin)).json()["items"]]
        assert {world.a, world.b} <= set(names)
        assert (await http.get("/v1/costs", headers=admin)).status_code == 403
        assert (await http.get("/v1/tenants", headers=world.headers("a"))).status_code == 403
        # ...and mints tokens for a tenant (service to service), listed under that tenant.
        minted = await http.post(
            "/v1/tokens",
            json={"name": "svc:billing-sync", "scopes": ["sources:write"], "tenant": world.b, "rate_limit_per_min": 60},
            headers=admin,
        )
        assert minted.status_code == 201, minted.text
        svc = minted.json()
        assert (svc["token"]["tenant"], svc["token"]["rate_limit_per_min"]) == (world.b, 60)
        of_b = (await http.get("/v1/tokens", params={"tenant": world.b}, headers=admin)).json()["items"]
        assert svc["token"]["id"] in [t["id"] for t in of_b]
        svc_h = {"Authorization": f"Bearer {svc['secret']}"}
        made = await http.post(
            "/v1/sources", json={"id": "svc", "provider": "aws", "bucket": f"s-{world.b}"}, headers=svc_h
        )
        assert made.status_code == 200, made.text
        assert (await http.get("/v1/sources", headers=svc_h)).status_code == 403  # sources:write only


async def test_recommendations_list_show_dismiss_snooze(api: object, world: World) -> None:
    a = world.headers("a")
    async with client(api) as http:
        page = (await http.get("/v1/recommendations", params={"limit": 2}, headers=a)).json()
        savings = [Decimal(r["monthly_savings"]) for r in page["items"]]
        assert savings == sorted(savings, reverse=True)
        rest = (await http.get("/v1/recommendations", params={"cursor": page["next_cursor"]}, headers=a)).json()
        fps = [r["fingerprint"] for r in page["items"] + rest["items"]]
        assert sorted(fps) == sorted(world.recommendations[world.a])
        shown = (await http.get(f"/v1/recommendations/{fps[0]}", headers=a)).json()
        assert shown["detail"]["proposed"] == {"type": "gp3"}
        dismissed = await http.post(
            f"/v1/recommendations/{fps[0]}/dismiss", json={"reason": "kept on purpose"}, headers=a
        )
        assert dismissed.status_code == 200, dismissed.text
        assert (dismissed.json()["state"], dismissed.json()["reason"]) == ("dismissed", "kept on purpose")
        snoozed = await http.post(
            f"/v1/recommendations/{fps[1]}/snooze", json={"reason": "later", "days": 7}, headers=a
        )
        assert snoozed.json()["state"] == "dismissed"
        assert (await http.post(f"/v1/recommendations/{fps[2]}/dismiss", json={}, headers=a)).status_code == 422
        open_only = (await http.get("/v1/recommendations", params={"state": "open"}, headers=a)).json()["items"]
        assert [r["fingerprint"] for r in open_only] == [fps[2]]
    assert len(_audit(world.settings.postgres.dsn or "", world.a, "recommendation.dismissed")) == 1


async def test_values_postgres_cannot_hold_are_422(api: object, world: World) -> None:
    """Found by the fuzzer: a NUL byte in an id, a year ClickHouse cannot hold: 422, never 500."""
    async with client(api) as http:
        for path in ("/v1/periods?source=%00", "/v1/files/a%00b", "/v1/sources/x%00"):
            r = await http.get(path, headers=world.headers("a"))
            assert r.status_code in (404, 422), (path, r.status_code, r.text)
        r = await http.get("/v1/costs", params={"from": "0083-09-08T00:00:00"}, headers=world.headers("a"))
        assert r.status_code == 422
        assert "out of range" in r.json()["detail"]
        r = await http.post("/v1/costs/query", json={"order_by": "Rows"}, headers=world.headers("a"))
        assert r.status_code == 422
        assert "order_by" in r.json()["detail"]
