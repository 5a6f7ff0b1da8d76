"""A worker's HTTP endpoints for Kubernetes and Prometheus: ``/healthz``, ``/readyz``, ``/metrics``.

The server runs in its own daemon thread (stdlib ``ThreadingHTTPServer``), not on the worker's
event loop, so it can say *that* the loop is stuck instead of just not answering:

* ``/healthz`` (liveness): 200 while the worker's event loop ran its heartbeat (a task on that
  loop, :meth:`Health.attach`) within ``health.max_loop_lag_s``; 503 when the loop is stuck
  (a blocking call, a busy loop) or never started. Kubernetes restarts the pod after a few 503s.
* ``/readyz`` (readiness): 200 when the broker answers a metadata request, ClickHouse answers
  (``/ping`` of an HTTP server; the in-process chdb engine counts as reachable), PostgreSQL
  answers ``SELECT 1`` (when a control plane is configured), and, for a role that consumes
  topics, the consumer has its assignment (a rebalance completed and none is in progress). Each
  check is bounded by ``health.check_timeout_s``; the body (JSON) names each check's outcome.
* ``/metrics``: every cloudops metric (:mod:`cloudops.metrics`) in the Prometheus text format,
  including the consumer group's lag per topic and partition (set by the worker's lag timer).

Contract: :meth:`Health.start` binds the port (raises ``OSError`` when it is taken) and returns
at once; :meth:`Health.stop` shuts the server down and joins its thread. Nothing here raises
into the worker: a failing check is a 503, never an exception on the worker's loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import faust
from aiokafka import AIOKafkaClient
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from cloudops.metrics import EVENT_LOOP_LAG_SECONDS
from cloudops.settings import KafkaSettings, Settings
from cloudops.topics.clients import client_kwargs

__all__ = ["Check", "Health", "default_checks"]

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[None]]
"""A readiness check: returns when the dependency is reachable, raises otherwise."""


async def _broker(kafka: KafkaSettings) -> None:
    client = AIOKafkaClient(**client_kwargs(kafka))
    try:
        await client.bootstrap()  # a metadata request to one of the bootstrap servers
    finally:
        await client.close()


def _clickhouse_ping(dsn: str, timeout: float) -> None:
    """GET /ping of a ClickHouse HTTP server (no credentials needed); the in-process engine is always there."""
    if dsn.startswith("chdb:"):
        return
    url = urllib.parse.urlsplit(dsn)
    scheme = "https" if url.scheme in ("https", "clickhouses") else "http"
    port = url.port or (8443 if scheme == "https" else 8123)
    with urllib.request.urlopen(f"{scheme}://{url.hostname}:{port}/ping", timeout=timeout) as resp:
        if resp.status != 200:
            raise RuntimeError(f"ClickHouse /ping answered {resp.status}")


async def _postgres(dsn: str, timeout: float) -> None:
    import psycopg

    conn = await psycopg.AsyncConnection.connect(dsn, connect_timeout=max(1, int(timeout)))
    try:
        await conn.execute("SELECT 1")
    finally:
        await conn.close()


def default_checks(settings: Settings) -> dict[str, Check]:
    """Readiness checks for the services ``settings`` configure: broker, ClickHouse, PostgreSQL (when set)."""
    timeout = settings.health.check_timeout_s
    dsn = settings.clickhouse_dsn
    checks: dict[str, Check] = {
        "broker": lambda: _broker(settings.kafka),
        "clickhouse": lambda: asyncio.to_thread(_clickhouse_ping, dsn, timeout),
    }
    pg = settings.postgres.dsn
    if pg:
        checks["postgres"] = lambda: _postgres(pg, timeout)
    return checks


class Health:
    """Liveness, readiness and metrics of one worker process (see the module docstring).

    ``consumes``: the topics the worker's roles consume; when empty (bridge, schedule) readiness
    does not wait for a partition assignment.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        consumes: Iterable[str] = (),
        checks: Mapping[str, Check] | None = None,
    ) -> None:
        self.settings = settings
        self.consumes = tuple(consumes)
        self.checks = dict(default_checks(settings) if checks is None else checks)
        self.max_loop_lag_s = settings.health.max_loop_lag_s
        self.check_timeout_s = settings.health.check_timeout_s
        self._beat: float | None = None
        self._beating: asyncio.Future[None] | None = None
        self._assigned = False
        self._app: faust.App | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- the worker's side -------------------------------------------------------------------------
    def beat(self) -> None:
        """Record that the worker's event loop is running (call it from that loop)."""
        self._beat = time.monotonic()

    async def heartbeat(self) -> None:
        """Beat forever on the current loop, a few times per ``max_loop_lag_s`` (runs until cancelled)."""
        interval = min(1.0, self.max_loop_lag_s / 4)
        while True:
            self.beat()
            await asyncio.sleep(interval)

    def attach(self, app: faust.App) -> None:
        """Beat on ``app``'s event loop from the moment it starts (before it joins its consumer group,
        so a long first rebalance does not look like a stuck loop) and follow its assignments."""
        self._app = app
        first_start = app.on_first_start

        async def on_first_start() -> None:
            if self._beating is None or self._beating.done():
                self._beating = asyncio.ensure_future(self.heartbeat())
            await first_start()

        # mode calls ``await self.on_first_start()`` on the loop the app runs on, first thing in start().
        setattr(app, "on_first_start", on_first_start)  # noqa: B010

        async def _assigned(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
            self._assigned = True

        app.on_partitions_assigned.connect(_assigned)  # type: ignore[arg-type]

    # -- the probes ----------------------------------------------------------------------------------
    def loop_age(self) -> float | None:
        """Seconds since the last heartbeat (None before the first)."""
        return None if self._beat is None else time.monotonic() - self._beat

    def alive(self) -> tuple[bool, str]:
        """(alive, reason): the event loop beat within ``max_loop_lag_s``."""
        age = self.loop_age()
        if age is None:
            return False, "event loop not started"
        EVENT_LOOP_LAG_SECONDS.set(age)
        if age > self.max_loop_lag_s:
            return False, f"event loop stuck: no heartbeat for {age:.1f}s (limit {self.max_loop_lag_s}s)"
        return True, f"event loop heartbeat {age:.2f}s ago"

    def assignment(self) -> tuple[bool, str]:
        """(ready, reason) of the consumer: assigned and not rebalancing (always ready when consuming nothing)."""
        if not self.consumes:
            return True, "consumes no topic"
        if not self._assigned:
            return False, "waiting for the consumer group's assignment"
        if self._app is not None and self._app.rebalancing:
            return False, "rebalancing"
        return True, f"assigned ({', '.join(self.consumes)})"

    async def _run_checks(self) -> dict[str, str]:
        async def one(check: Check) -> str:
            try:
                await asyncio.wait_for(check(), self.check_timeout_s)
                return "ok"
            except TimeoutError:
                return f"timed out after {self.check_timeout_s}s"
            except Exception as exc:
                return f"{type(exc).__name__}: {exc}"[:300]

        names = list(self.checks)
        results = await asyncio.gather(*(one(self.checks[n]) for n in names))
        return dict(zip(names, results, strict=True))

    def ready(self) -> tuple[bool, dict[str, str]]:
        """(ready, outcome per check): every dependency reachable and the consumer assigned. Blocks up to
        about ``check_timeout_s`` (the checks run concurrently on a private event loop)."""
        outcome = asyncio.run(self._run_checks())
        ok, reason = self.assignment()
        outcome["consumer"] = "ok" if ok else reason
        return all(v == "ok" for v in outcome.values()), outcome

    # -- the server ---------------------------------------------------------------------------------
    def start(self, port: int | None = None, host: str | None = None) -> int:
        """Serve on ``host:port`` (settings by default) from a daemon thread; returns the bound port."""
        health = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    ok, reason = health.alive()
                    self._send(200 if ok else 503, json.dumps({"alive": ok, "reason": reason}).encode())
                elif path == "/readyz":
                    ok, checks = health.ready()
                    self._send(200 if ok else 503, json.dumps({"ready": ok, "checks": checks}).encode())
                elif path == "/metrics":
                    health.alive()  # refreshes the heartbeat-age gauge
                    self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
                else:
                    self._send(404, b'{"error": "not found"}')

            def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds: not logged
                return

        bind_host = self.settings.health.host if host is None else host
        bind_port = self.settings.health.port if port is None else port
        self._server = ThreadingHTTPServer((bind_host, bind_port), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="health-http", daemon=True)
        self._thread.start()
        bound = int(self._server.server_address[1])
        log.info("health: /healthz /readyz /metrics on %s:%d", bind_host, bound)
        return bound

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
