"""GraphQL subgraphs and subscriptions against real PostgreSQL, Redis and chdb.

HTTP through httpx's ASGI transport; subscriptions through a real uvicorn on 127.0.0.1 with a
``graphql-transport-ws`` WebSocket client.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import websockets
from tests.support.api import World, client, make_world

from cloudops.api.app import create_api
from cloudops.api.graphql import ingest as ingest_subgraph
from cloudops.embedded.net import free_port
from cloudops.service.tokens import create_token
from cloudops.sinks.redis import publish_loaded

pytestmark = pytest.mark.integration


@pytest.fixture
async def world(tmp_path: Path, chdb_dsn: str, postgres_db: str, redis_url: str, unique: str) -> World:
    return await make_world(tmp_path, chdb_dsn, postgres_db, redis_url, unique)


@pytest.fixture
async def api(world: World) -> AsyncIterator[Any]:
    app = create_api(world.settings)
    yield app
    await app.state.api.close()


async def _gql(api: Any, subgraph: str, token: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    async with client(api) as http:
        r = await http.post(
            f"/graphql/{subgraph}",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert r.status_code == 200, r.text
    return r.json()


async def test_costs_subgraph_and_batched_entities(api: Any, world: World) -> None:
    q = """query($q: CostQueryInput!) { costs(query: $q) { columns rows dataVersion cached source } }"""
    body = await _gql(
        api, "costs", world.tokens["a"], q, {"q": {"groupBy": ["ServiceName"], "metrics": ["BilledCost"]}}
    )
    answer = body["data"]["costs"]
    assert answer["columns"] == ["ServiceName", "BilledCost"]
    async with client(api) as http:
        rest = (await http.get("/v1/costs", params={"by": "ServiceName"}, headers=world.headers("a"))).json()
    assert {r[0]: Decimal(r[1]) for r in answer["rows"]} == {
        r["ServiceName"]: Decimal(r["BilledCost"]) for r in rest["rows"]
    }

    # Five CostSeries references resolve in ONE ClickHouse query (DataLoader), not five.
    ids = world.resources[world.a][:5]
    reps = [{"__typename": "CostSeries", "resourceId": r} for r in ids]
    entities = """query($r: [_Any!]!) { _entities(representations: $r) {
        ... on CostSeries { resourceId points { period billedCost currency } } } }"""
    before = api.state.api.costs.queries_run
    got = await _gql(api, "costs", world.tokens["a"], entities, {"r": reps})
    assert "errors" not in got, got
    assert api.state.api.costs.queries_run - before == 1
    series = got["data"]["_entities"]
    assert [s["resourceId"] for s in series] == ids
    assert all(s["points"] for s in series)

    # Each series equals what REST answers for that resource, for this tenant only.
    async with client(api) as http:
        one = (
            await http.get(
                "/v1/costs",
                params={"filter": f"ResourceId={ids[0]}", "granularity": "month"},
                headers=world.headers("a"),
            )
        ).json()
    assert [Decimal(p["billedCost"]) for p in series[0]["points"]] == [Decimal(r["BilledCost"]) for r in one["rows"]]


async def test_recommendations_and_ingest_subgraphs(api: Any, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    token = world.tokens["a"]
    recs = await _gql(
        api,
        "recommendations",
        token,
        "{ recommendations(first: 2) { nodes { fingerprint monthlySavings cost { resourceId } } nextCursor } }",
    )
    page = recs["data"]["recommendations"]
    assert len(page["nodes"]) == 2
    assert page["nextCursor"]
    assert all(n["cost"]["resourceId"] for n in page["nodes"])
    fp = page["nodes"][0]["fingerprint"]
    done = await _gql(
        api,
        "recommendations",
        token,
        'mutation($f: ID!) { dismissRecommendation(fingerprint: $f, reason: "not now") { state reason } }',
        {"f": fp},
    )
    assert done["data"]["dismissRecommendation"] == {"state": "dismissed", "reason": "not now"}

    calls = []
    real = ingest_subgraph.files_service.list_files

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest_subgraph.files_service, "list_files", counting)
    # Two sources, each resolving its files: one ledger read for the whole request (no N+1).
    async with client(api) as http:
        await http.post(
            "/v1/sources",
            json={"id": "second", "provider": "gcp", "bucket": f"g-{world.a}"},
            headers=world.headers("a"),
        )
    got = await _gql(api, "ingest", token, "{ sources { id files { nodes { fileId state source { id } } } } }")
    assert "errors" not in got, got
    by_source = {s["id"]: [f["fileId"] for f in s["files"]["nodes"]] for s in got["data"]["sources"]}
    assert sorted(by_source["main"]) == sorted(world.files[world.a])
    assert by_source["second"] == []
    assert len(calls) == 1


async def test_depth_and_cost_limits(api: Any, world: World) -> None:
    deep = "{ files { nodes { " + "source { files { nodes { " * 5 + "fileId" + " } } }" * 6
    got = await _gql(api, "ingest", world.tokens["a"], deep)
    assert got["data"] is None
    assert "exceeds maximum operation depth" in got["errors"][0]["message"]
    costly = "{ files(first: 1000) { nodes { source { files(first: 1000) { nodes { fileId } } } } } }"
    got = await _gql(api, "ingest", world.tokens["a"], costly)
    assert got["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"


async def test_graphql_isolation_and_scopes(api: Any, world: World) -> None:
    """Tenant A's token never reads B's objects, whatever ids or entity references it crafts."""
    a = world.tokens["a"]
    b_fp = world.recommendations[world.b][0]
    for subgraph, query, variables in (
        ("recommendations", "query($f: ID!) { recommendation(fingerprint: $f) { fingerprint } }", {"f": b_fp}),
        (
            "recommendations",
            "query($r: [_Any!]!) { _entities(representations: $r) { ... on Recommendation { fingerprint title } } }",
            {"r": [{"__typename": "Recommendation", "fingerprint": b_fp}]},
        ),
        ("ingest", "query($i: ID!) { file(fileId: $i) { fileId } }", {"i": world.files[world.b][0]}),
        (
            "ingest",
            "query($r: [_Any!]!) { _entities(representations: $r) { ... on File { fileId rowsIn } } }",
            {"r": [{"__typename": "File", "fileId": world.files[world.b][0]}]},
        ),
    ):
        got = await _gql(api, subgraph, a, query, variables)
        assert got["errors"][0]["extensions"]["code"] == "NOT_FOUND", got
        assert b_fp not in json.dumps(got.get("data"))
        assert world.files[world.b][0] not in json.dumps(got.get("data"))
    # B has a source called "main" too: A's reference to Source "main" resolves to A's own.
    got = await _gql(
        api,
        "ingest",
        a,
        'query { _entities(representations: [{__typename: "Source", id: "main"}]) { ... on Source { bucket } } }',
    )
    assert got["data"]["_entities"][0]["bucket"] == f"bills-{world.a}"
    # Cost series of a resource id both tenants have: A's numbers only.
    shared = sorted(set(world.resources[world.a]) & set(world.resources[world.b]))
    assert shared
    q = """query($r: [_Any!]!) { _entities(representations: $r) { ... on CostSeries { points { billedCost } } } }"""
    reps = {"r": [{"__typename": "CostSeries", "resourceId": shared[0]}]}
    mine = await _gql(api, "costs", a, q, reps)
    theirs = await _gql(api, "costs", world.tokens["b"], q, reps)
    async with client(api) as http:
        rest_a = (
            await http.get("/v1/costs", params={"filter": f"ResourceId={shared[0]}"}, headers=world.headers("a"))
        ).json()
    total_a = sum(Decimal(p["billedCost"]) for p in mine["data"]["_entities"][0]["points"])
    assert total_a == Decimal(rest_a["rows"][0]["BilledCost"])
    assert mine != theirs
    # Wrong scope: a costs-only token cannot read recommendations (audited refusal).
    got = await _gql(api, "recommendations", world.tokens["a_costs"], "{ recommendations { nodes { fingerprint } } }")
    assert got["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # No token: 401 before anything runs.
    async with client(api) as http:
        r = await http.post("/graphql/costs", json={"query": "{ __typename }"})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"


class _Server:
    """The app on a real uvicorn (127.0.0.1, free port) in a thread."""

    def __init__(self, app: Any) -> None:
        self.port = free_port("127.0.0.1")
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="warning", ws="websockets-sansio", lifespan="off"
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)


@pytest.fixture
def served(world: World) -> Iterator[_Server]:
    app = create_api(world.settings)
    with _Server(app) as server:
        yield server


SUB = "subscription($k: [String!], $l: String) { events(kinds: $k, lastEventId: $l) { id kind data } }"


async def _subscribe(port: int, token: str, variables: dict[str, Any]) -> Any:
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/graphql/live", subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
    ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert ack["type"] == "connection_ack", ack
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUB, "variables": variables}}))
    return ws


async def _next(ws: Any, timeout: float = 10) -> dict[str, Any]:
    msg = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    assert msg["type"] == "next", msg
    return msg["payload"]["data"]["events"]  # type: ignore[no-any-return]


async def test_subscriptions_per_tenant_with_replay(served: _Server, world: World) -> None:
    url = world.settings.redis.url or ""
    ws_a = await _subscribe(served.port, world.tokens["a"], {"k": ["loaded"]})
    ws_b = await _subscribe(served.port, world.tokens["b"], {})
    await asyncio.sleep(0.3)  # the hub starts reading
    await publish_loaded(url, world.a, "file-a1", {"rows": 10})
    await publish_loaded(url, world.b, "file-b1")
    first = await _next(ws_a)
    assert (first["kind"], first["data"]["file_id"], first["data"]["tenant"]) == ("loaded", "file-a1", world.a)
    got_b = await _next(ws_b)
    assert got_b["data"]["file_id"] == "file-b1"
    with pytest.raises(TimeoutError):  # A never sees B's receipt
        await asyncio.wait_for(ws_a.recv(), 1.5)
    await ws_a.close()

    # Missed while disconnected, then reconnect with the last event id: replay, then live, no gap.
    await publish_loaded(url, world.a, "file-a2")
    await publish_loaded(url, world.a, "file-a3")
    ws_a = await _subscribe(served.port, world.tokens["a"], {"l": first["id"]})
    assert [(await _next(ws_a))["data"]["file_id"] for _ in range(2)] == ["file-a2", "file-a3"]
    await publish_loaded(url, world.a, "file-a4")
    assert (await _next(ws_a))["data"]["file_id"] == "file-a4"
    await ws_a.close()
    await ws_b.close()

    # No events:read scope: the subscription is refused; a bad token cannot even connect.
    costs_only = await _subscribe(served.port, world.tokens["a_costs"], {})
    msg = json.loads(await asyncio.wait_for(costs_only.recv(), 10))
    errors = msg["payload"] if msg["type"] == "error" else msg["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert msg["type"] == "error" or msg["payload"]["data"] is None
    await costs_only.close()
    revoked = create_token(
        world.settings.postgres.dsn or "", tenant=world.a, scopes=["events:read"], name="x", expires_at=None, actor="t"
    )
    ws = await websockets.connect(f"ws://127.0.0.1:{served.port}/graphql/live", subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {revoked.secret}x"}}))
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


async def test_many_subscribers_of_one_tenant_all_receive(served: _Server, world: World) -> None:
    """Found by the benchmark: subscribers attaching at once must all stay attached."""
    sockets = await asyncio.gather(*(_subscribe(served.port, world.tokens["a"], {}) for _ in range(20)))
    await asyncio.sleep(0.5)
    await publish_loaded(world.settings.redis.url or "", world.a, "file-many")
    got = await asyncio.gather(*(_next(ws) for ws in sockets))
    assert {g["data"]["file_id"] for g in got} == {"file-many"}
    assert len(got) == 20
    for ws in sockets:
        await ws.close()
