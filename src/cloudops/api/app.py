"""The ASGI application: ``create_api(settings)``.

Routes: ``/healthz`` (the process answers), ``/readyz`` (PostgreSQL, Redis and ClickHouse
answer within ``health.check_timeout_s``), ``/metrics`` (Prometheus), ``/v1/...`` (REST, OpenAPI
3.1 at ``/openapi.json``), ``/graphql/<subgraph>`` (federation subgraphs; subscriptions over
``graphql-transport-ws`` on ``/graphql/live``), ``/graphql`` (the supergraph: through Apollo
Gateway when one is configured, see :mod:`cloudops.api.supergraph`), and the web UI at ``/``
when it is built (:mod:`cloudops.api.web`).

Every response carries ``X-Request-Id`` (the client's, when it sent a sane one, else a new
uuid); errors are RFC 9457 problem+json (:mod:`cloudops.api.problems`).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloudops import __version__
from cloudops.api.auth import Gate
from cloudops.api.problems import install_problem_handlers, problem_response
from cloudops.api.rest import ROUTERS
from cloudops.api.state import ApiState
from cloudops.api.web import mount_web
from cloudops.metrics import API_REQUESTS, API_SECONDS
from cloudops.service.costs import Costs
from cloudops.settings import Settings, get_settings

__all__ = ["create_api"]

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestIds:
    """ASGI middleware: a request id per request (HTTP and WebSocket), echoed, plus request metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if scope["type"] == "http":
                route = scope.get("route")
                name = getattr(route, "path", None) or "unmatched"
                API_REQUESTS.labels(scope.get("method", ""), name, str(status)).inc()
                API_SECONDS.labels(name).observe(time.perf_counter() - started)


async def _check(name: str, timeout: float, probe: Any) -> tuple[str, str | None]:
    try:
        await asyncio.wait_for(probe(), timeout)
        return name, None
    except Exception as exc:  # any failure makes the dependency not ready
        return name, f"{type(exc).__name__}: {exc}"[:300]


def create_api(
    settings: Settings | None = None,
    *,
    graphql: bool = True,
    gateway_url: str | None = None,
    upload_max_bytes: int | None = None,
) -> FastAPI:
    """The cloudops API for ``settings`` (default: the process settings). Opens nothing until used.

    ``gateway_url``: Apollo Gateway's URL (``gateway/server.mjs``); ``POST /graphql`` passes every
    operation to it. None: ``api.gateway_url``; when that is empty too, ``POST /graphql`` answers
    single-subgraph operations itself (:mod:`cloudops.api.supergraph`). ``upload_max_bytes``: the
    largest billing file ``POST /v1/sources/{id}/uploads`` accepts (None: ``api.upload_max_bytes``).
    """
    settings = settings or get_settings()
    gateway_url = gateway_url or settings.api.gateway_url or None
    redis = aioredis.Redis.from_url(settings.redis.url) if settings.redis.url else None
    state = ApiState(settings=settings, gate=Gate(settings, redis), costs=Costs(settings), redis=redis)
    state.extras["upload_max_bytes"] = upload_max_bytes or settings.api.upload_max_bytes

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await state.close()

    app = FastAPI(
        title="cloudops API",
        version=__version__,
        summary="Multi-cloud FinOps: costs (FOCUS), billing ingest, savings recommendations.",
        description=(
            "Every route under /v1 needs `Authorization: Bearer <token>` (`cloudops tokens create`). "
            "A token acts for its own tenant only. Errors are RFC 9457 problem+json. Lists are cursor-paginated "
            "(`cursor` in, `next_cursor` out). Cost answers carry an ETag (the tenant's data version)."
        ),
        lifespan=lifespan,
        openapi_url="/openapi.json",
    )
    app.state.api = state
    install_problem_handlers(app)
    for router in ROUTERS:
        app.include_router(router)

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Readiness: the stores answer", response_model=None)
    async def readyz(request: Request) -> JSONResponse:
        timeout = settings.health.check_timeout_s
        probes: list[tuple[str, Any]] = []
        if settings.postgres.dsn:
            dsn = settings.postgres.dsn

            def pg() -> None:
                from cloudops.sinks.postgres.client import connect

                with connect(dsn) as conn:
                    conn.execute("SELECT 1")

            probes.append(("postgres", lambda: asyncio.to_thread(pg)))
        if redis is not None:
            probes.append(("redis", redis.ping))
        probes.append(("clickhouse", lambda: _clickhouse_ping(settings)))
        results = await asyncio.gather(*(_check(n, timeout, p) for n, p in probes))
        failed = {n: e for n, e in results if e}
        if failed:
            return problem_response(
                request, 503, "not ready: " + ", ".join(failed), type_slug="not-ready", checks=failed
            )
        return JSONResponse({"status": "ready", "checks": {n: "ok" for n, _ in results}})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    if graphql:
        from cloudops.api.graphql import mount_subgraphs
        from cloudops.api.supergraph import mount_supergraph

        mount_subgraphs(app, state)
        mount_supergraph(app, state, gateway_url)
    mount_web(app, settings)  # the built web UI at / (web/dist), when built
    app.add_middleware(RequestIds)
    return app


async def _clickhouse_ping(settings: Settings) -> None:
    from cloudops.sinks.clickhouse.client import connect

    ch = connect(settings.clickhouse_dsn)
    await ch.run(lambda c: c.command("SELECT 1"))
