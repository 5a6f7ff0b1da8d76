"""``/v1/targets`` over the REST API: list, put, delete, audited, per tenant only, problem+json errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.support.api import World, client, make_world

from cloudops.api.app import create_api
from cloudops.service import targets
from cloudops.service.context import Caller

pytestmark = pytest.mark.integration

TARGET = {"repository": "acme/infra", "path": "envs/prod", "token_ref": "env:GITHUB_TOKEN", "state_refs": ["s3://st/k"]}


@pytest.fixture
async def world(tmp_path: Path, chdb_dsn: str, postgres_db: str, redis_url: str, unique: str) -> World:
    return await make_world(tmp_path, chdb_dsn, postgres_db, redis_url, unique)


@pytest.fixture
async def api(world: World) -> AsyncIterator[Any]:
    app = create_api(world.settings, graphql=False)
    yield app
    await app.state.api.close()


def _audit(dsn: str, tenant: str, action: str) -> list[tuple[str | None, str | None]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT target, request_id FROM public.audit_log WHERE tenant = %s AND action = %s ORDER BY id",
            [tenant, action],
        ).fetchall()
    return [(t, r) for t, r in rows]


async def test_put_list_get_replace_delete_audited(api: Any, world: World) -> None:
    a = world.headers("a")
    dsn = world.settings.postgres.dsn or ""
    async with client(api) as http:
        assert (await http.get("/v1/targets", headers=a)).json() == {"items": [], "next_cursor": None}
        made = await http.put("/v1/targets/prod", json=TARGET, headers={**a, "X-Request-Id": "put-1"})
        assert made.status_code == 200, made.text
        assert made.json() == {
            "id": "prod",
            "repository": "acme/infra",
            "base_branch": "main",
            "path": "envs/prod",
            "app_installation_id": None,
            "token_ref": "env:GITHUB_TOKEN",
            "state_refs": ["s3://st/k"],
            "api_url": None,
            "enabled": True,
            "app_id": None,
            "app_key_ref": None,
        }
        second = {"repository": "acme/other", "app_installation_id": 42}
        assert (await http.put("/v1/targets/dev", json=second, headers=a)).status_code == 200
        page = await http.get("/v1/targets?limit=1", headers=a)
        assert [t["id"] for t in page.json()["items"]] == ["dev"]
        rest = await http.get(f"/v1/targets?limit=1&cursor={page.json()['next_cursor']}", headers=a)
        assert [t["id"] for t in rest.json()["items"]] == ["prod"]
        assert rest.json()["next_cursor"] is None
        # PUT replaces the whole target (idempotent by id).
        replaced = await http.put(
            "/v1/targets/prod", json={**TARGET, "enabled": False, "base_branch": "trunk"}, headers=a
        )
        assert (replaced.json()["enabled"], replaced.json()["base_branch"]) == (False, "trunk")
        got = await http.get("/v1/targets/prod", headers=a)
        assert got.json() == replaced.json()
        # The service layer sees what the API wrote (the proposer routes through it).
        caller = Caller(actor="test", tenant=world.a, settings=world.settings)
        assert [(t.id, t.enabled) for t in targets.list_targets(caller)] == [("dev", True), ("prod", False)]

        gone = await http.delete("/v1/targets/prod", headers={**a, "X-Request-Id": "del-1"})
        assert gone.status_code == 204
        assert (await http.get("/v1/targets/prod", headers=a)).status_code == 404
        again = await http.delete("/v1/targets/prod", headers=a)
        assert again.status_code == 404
        assert again.headers["content-type"] == "application/problem+json"
    sets = _audit(dsn, world.a, "target.set")
    assert ("target:prod", "put-1") in sets
    assert len(sets) == 3
    assert _audit(dsn, world.a, "target.removed") == [("target:prod", "del-1")]


async def test_a_target_with_its_own_github_app(api: Any, world: World, tmp_path: Path) -> None:
    """The App's id and key *reference* go in and come back; the key itself never does, and the
    proposer's routing reads it from the reference."""
    key = tmp_path / "app.pem"
    key.write_text("-----BEGIN RSA PRIVATE KEY-----\nsecret-key-body\n-----END RSA PRIVATE KEY-----\n")
    body = {"repository": "acme/infra", "app_installation_id": 7, "app_id": 123, "app_key_ref": f"file:{key}"}
    a = world.headers("a")
    async with client(api) as http:
        made = await http.put("/v1/targets/app", json=body, headers=a)
        assert made.status_code == 200, made.text
        assert {k: made.json()[k] for k in body} == body
        assert made.json()["token_ref"] is None
        listed = await http.get("/v1/targets", headers=a)
        assert listed.json()["items"] == [made.json()]
        assert "secret-key-body" not in listed.text + made.text
        # An App needs both its id and key reference, an installation, and a reference (never a key).
        for wrong in (
            {**body, "app_key_ref": None},
            {**body, "app_id": None},
            {**body, "app_installation_id": None, "token_ref": "env:GITHUB_TOKEN"},
            {**body, "app_key_ref": key.read_text()},
        ):
            refused = await http.put("/v1/targets/app", json=wrong, headers=a)
            assert refused.status_code == 422, wrong
            assert refused.headers["content-type"] == "application/problem+json"
            assert "secret-key-body" not in refused.text
        assert (await http.put("/v1/targets/app", json={**body, "app_id": 0}, headers=a)).status_code == 422
        # Dropping the App (PUT replaces the whole target) falls back to the deployment's App.
        plain = await http.put("/v1/targets/app", json={**body, "app_id": None, "app_key_ref": None}, headers=a)
        assert (plain.json()["app_id"], plain.json()["app_key_ref"]) == (None, None)
        assert (await http.put("/v1/targets/app", json=body, headers=a)).status_code == 200
    caller = Caller(actor="test", tenant=world.a, settings=world.settings)
    route = targets.resolve_route(caller, targets.get_target(caller, "app"))
    assert route.app is not None
    assert (route.app.app_id, route.app.installation_id) == (123, 7)
    assert "secret-key-body" in route.app.private_key
    assert "secret-key-body" not in repr(route)


async def test_errors_are_problems(api: Any, world: World) -> None:
    a = world.headers("a")
    async with client(api) as http:
        no_auth = await http.put("/v1/targets/x", json={"repository": "acme/infra"}, headers=a)
        assert no_auth.status_code == 422  # neither an App installation nor a token reference
        assert no_auth.headers["content-type"] == "application/problem+json"
        assert "token-ref" in no_auth.json()["detail"]
        a_token = await http.put("/v1/targets/x", json={**TARGET, "token_ref": "ghp_secret"}, headers=a)
        assert a_token.status_code == 422  # a reference, never a token
        assert a_token.json()["errors"][0]["loc"] == ["body", "token_ref"]
        assert "ghp_secret" not in a_token.text  # the refusal does not repeat it
        bad_repo = await http.put("/v1/targets/x", json={**TARGET, "repository": "no-slash"}, headers=a)
        assert bad_repo.status_code == 422
        bad_id = await http.put("/v1/targets/Bad%20Id", json=TARGET, headers=a)
        assert bad_id.status_code == 422
        unknown_field = await http.put("/v1/targets/x", json={**TARGET, "token": "ghp_x"}, headers=a)
        assert unknown_field.status_code == 422
        assert (await http.put("/v1/targets/one", json=TARGET, headers=a)).status_code == 200
        clash = await http.put("/v1/targets/two", json=TARGET, headers=a)  # same repository and path
        assert clash.status_code == 409
        assert clash.json()["status"] == 409
        # Scopes: a costs-only token can neither read nor write targets.
        c = world.headers("a_costs")
        assert (await http.get("/v1/targets", headers=c)).status_code == 403
        assert (await http.put("/v1/targets/y", json=TARGET, headers=c)).status_code == 403
        assert (await http.delete("/v1/targets/one", headers=c)).status_code == 403
        assert (await http.get("/v1/targets")).status_code == 401


async def test_tenant_b_never_sees_or_changes_a_targets(api: Any, world: World) -> None:
    a, b = world.headers("a"), world.headers("b")
    async with client(api) as http:
        assert (await http.put("/v1/targets/prod", json=TARGET, headers=a)).status_code == 200
        assert (await http.get("/v1/targets", headers=b)).json()["items"] == []
        assert (await http.get("/v1/targets/prod", headers=b)).status_code == 404
        assert (await http.delete("/v1/targets/prod", headers=b)).status_code == 404
        # B's PUT with the same id makes B's own target; A's is untouched.
        mine = await http.put("/v1/targets/prod", json={**TARGET, "repository": "b-org/infra"}, headers=b)
        assert mine.status_code == 200
        assert (await http.get("/v1/targets/prod", headers=a)).json()["repository"] == "acme/infra"
        assert (await http.get("/v1/targets/prod", headers=b)).json()["repository"] == "b-org/infra"
