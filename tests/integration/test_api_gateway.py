"""The supergraph composes from the committed subgraph SDL (Apollo's composition, Node 20), and a
cross-subgraph query through Apollo Gateway (npm @apollo/gateway) answers from the real API."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from tests.support.api import World, make_world

from cloudops.api.app import create_api
from cloudops.embedded.net import free_port

pytestmark = pytest.mark.integration

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed (the gateway needs Node 20)")
    if not (GATEWAY / "node_modules" / "@apollo" / "gateway").exists():
        pytest.fail("gateway/node_modules is missing: run `make gateway` (npm ci in gateway/)")
    return node


def test_supergraph_composes_and_is_committed() -> None:
    done = subprocess.run([_node(), "compose.mjs", "--check"], cwd=GATEWAY, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
async def world(tmp_path: Path, chdb_dsn: str, postgres_db: str, redis_url: str, unique: str) -> World:
    return await make_world(tmp_path, chdb_dsn, postgres_db, redis_url, unique)


@pytest.fixture
def stack(world: World, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The API on uvicorn and Apollo Gateway in front of it: (api url, gateway url)."""
    node = _node()
    app = create_api(world.settings)
    port = free_port("127.0.0.1")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    gw_port = free_port("127.0.0.1")
    log = (tmp_path / "gateway.log").open("w")
    env = {**os.environ, "CLOUDOPS_API_URL": f"http://127.0.0.1:{port}", "PORT": str(gw_port)}
    gateway = subprocess.Popen([node, "server.mjs"], cwd=GATEWAY, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "gateway ready" not in (tmp_path / "gateway.log").read_text():
            assert gateway.poll() is None, (tmp_path / "gateway.log").read_text()
            assert time.monotonic() < deadline, "gateway did not start"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{gw_port}/"
    finally:
        gateway.terminate()
        gateway.wait(20)
        server.should_exit = True
        thread.join(20)


CROSS = """{ recommendations(first: 3) { nodes { fingerprint resourceId
    cost { resourceId points { period billedCost currency } } } } }"""


def _post(url: str, token: str, query: str) -> Any:
    r = httpx.post(url, json={"query": query}, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def test_cross_subgraph_query_through_the_gateway(stack: tuple[str, str], world: World) -> None:
    api, gateway = stack
    got = _post(gateway, world.tokens["a"], CROSS)
    assert "errors" not in got, got
    nodes = got["data"]["recommendations"]["nodes"]
    assert sorted(n["fingerprint"] for n in nodes) == sorted(world.recommendations[world.a])
    for n in nodes:
        rest = httpx.get(
            f"{api}/v1/costs",
            params={"filter": f"ResourceId={n['resourceId']}", "granularity": "month"},
            headers=world.headers("a"),
        ).json()
        assert [Decimal(p["billedCost"]) for p in n["cost"]["points"]] == [
            Decimal(r["BilledCost"]) for r in rest["rows"]
        ]
    # Tenant B through the same gateway sees only its own recommendations.
    other = _post(gateway, world.tokens["b"], "{ recommendations { nodes { fingerprint } } }")
    assert sorted(n["fingerprint"] for n in other["data"]["recommendations"]["nodes"]) == sorted(
        world.recommendations[world.b]
    )
    # A costs-only token is refused by the recommendations subgraph, and the gateway passes that on.
    refused = _post(gateway, world.tokens["a_costs"], CROSS)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert refused["data"] is None
