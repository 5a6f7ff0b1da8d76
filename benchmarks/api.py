"""API benchmark (small scale): REST cost queries under concurrency, cold and warm cache, and the
fan-out latency of a load receipt to many WebSocket subscribers.

    python benchmarks/api.py --rows 1000000 --clients 10 50 --subscribers 1000

Starts its own PostgreSQL and Redis (Debian binaries), loads ``--rows`` synthetic FOCUS rows for one
tenant through the production insert path (chdb), then runs ``cloudops api`` as a separate process
(uvicorn, the same command an operator runs) and drives it over HTTP and WebSockets from this one:

* REST: each client loops over the 18 dashboard queries (``POST /v1/costs/query``) ``--rounds``
  times; *cold* rounds bump the tenant's data version first (every answer is a cache miss: planner +
  ClickHouse), *warm* rounds repeat the same questions (Redis cache hits). p50/p95/p99, throughput,
  errors.
* Fan-out: ``--subscribers`` clients subscribe to ``events`` on ``/graphql/live``; each
  ``publish_loaded`` is timed from its ``published_at`` to its arrival at every subscriber.

This is NOT the issue's 1,000,000,000-row benchmark (not run: see the README); numbers are for this
2-core machine with the load generator in the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import httpx  # noqa: E402
import websockets  # noqa: E402
from analytics import dashboard  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from tests.support.api import make_world  # noqa: E402
from tests.support.services import PostgresServer, RedisServer, temporary_database  # noqa: E402

from cloudops.embedded.net import free_port, wait_for_port  # noqa: E402
from cloudops.sinks.clickhouse.client import close_all  # noqa: E402
from cloudops.sinks.redis import publish_loaded  # noqa: E402

console = Console()


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def _rest_round(url: str, token: str, bodies: list[dict[str, Any]], clients: int, rounds: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        for _ in range(rounds):
            for body in bodies:
                t0 = time.perf_counter()
                try:
                    r = await http.post(f"{url}/v1/costs/query", json=body, headers=headers)
                except httpx.TransportError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - t0)
                errors += r.status_code != 200

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    wall = time.perf_counter() - started
    return {"latencies": latencies, "errors": errors, "wall": wall}


async def _fanout(port: int, token: str, redis_url: str, tenant: str, subscribers: int, events: int) -> list[float]:
    query = 'subscription { events(kinds: ["loaded"]) { id data } }'
    arrivals: list[float] = []
    ready = 0

    async def subscriber() -> None:
        nonlocal ready
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/graphql/live",
            subprotocols=["graphql-transport-ws"],
            open_timeout=60,  # type: ignore[list-item]
        ) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
            ack = json.loads(await ws.recv())
            if ack.get("type") != "connection_ack":
                raise RuntimeError(f"connection refused: {ack}")
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
            ready += 1
            for _ in range(events):
                msg = json.loads(await asyncio.wait_for(ws.recv(), 120))
                if msg.get("type") != "next" or msg["payload"].get("errors"):
                    raise RuntimeError(f"subscription failed: {msg}")
                now = datetime.now(UTC)
                sent = datetime.fromisoformat(msg["payload"]["data"]["events"]["data"]["published_at"])
                arrivals.append((now - sent).total_seconds())

    tasks = []
    for _ in range(subscribers):  # connect in small waves: 2 cores serve the handshakes
        tasks.append(asyncio.create_task(subscriber()))
        if len(tasks) % 50 == 0:
            await asyncio.sleep(0.2)
    while ready < subscribers:
        await asyncio.sleep(0.2)
    await asyncio.sleep(2.0)  # every subscription is attached to the hub
    for i in range(events):
        await publish_loaded(redis_url, tenant, f"bench-file-{i}")
        await asyncio.sleep(1.0)
    await asyncio.gather(*tasks)
    return arrivals


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=5)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cloudops-api-bench-"))
    with PostgresServer() as pg, RedisServer() as redis, temporary_database(pg.dsn) as dsn:
        t0 = time.perf_counter()
        world = await make_world(work, f"chdb://{work / 'chdb'}", dsn, redis.url, "bench", rows=(args.rows, 1000))
        close_all()  # chdb: one process per data path; the API process opens it next
        console.print(f"loaded {args.rows:,} rows in {time.perf_counter() - t0:.1f}s")
        port = free_port("127.0.0.1")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDOPS_")}
        env.update(
            CLOUDOPS_APP__WORK_DIR=str(work / "work"),
            CLOUDOPS_CLICKHOUSE__DSN=f"chdb://{work / 'chdb'}",
            CLOUDOPS_POSTGRES__DSN=dsn,
            CLOUDOPS_REDIS__URL=redis.url,
            CLOUDOPS_API__PORT=str(port),
            CLOUDOPS_API__RATE_LIMIT_PER_MIN="10000000",
            CLOUDOPS_APP__LOG_LEVEL="WARNING",
        )
        log = (work / "api.log").open("w")
        command = [sys.executable, "-m", "cloudops", "api"]
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: ASYNC220
        try:
            wait_for_port("127.0.0.1", port, 60)
            url = f"http://127.0.0.1:{port}"
            token = world.tokens["a"]
            end = datetime(2025, 3, 1, tzinfo=UTC)
            bodies = [q.model_dump(mode="json") for _name, q in dashboard(end)]
            table = Table("clients", "cache", "requests", "p50 ms", "p95 ms", "p99 ms", "req/s", "errors")
            for clients in args.clients:
                for mode in ("cold", "warm"):
                    if mode == "cold":
                        await publish_loaded(redis.url, world.a, "bench-invalidate")
                    run = await _rest_round(url, token, bodies, clients, 1 if mode == "cold" else args.rounds)
                    lat = [x * 1000 for x in run["latencies"]]
                    table.add_row(
                        str(clients),
                        mode,
                        str(len(lat)),
                        f"{statistics.median(lat):.1f}",
                        f"{_pct(lat, 95):.1f}",
                        f"{_pct(lat, 99):.1f}",
                        f"{len(lat) / run['wall']:.0f}",
                        str(run["errors"]),
                    )
            console.print(table)
            arrivals = await _fanout(port, token, redis.url, world.a, args.subscribers, args.events)
            ms = [x * 1000 for x in arrivals]
            console.print(
                f"fan-out: {args.events} receipts x {args.subscribers} subscribers = {len(ms)} deliveries; "
                f"p50 {statistics.median(ms):.0f} ms, p95 {_pct(ms, 95):.0f} ms, max {max(ms):.0f} ms"
            )
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(10)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
