"""``POST /graphql``: the one GraphQL endpoint clients (the web UI) use - the supergraph.

With a gateway (``create_api(gateway_url=...)``, ``cloudops api --gateway-url``: Apollo Gateway
of ``gateway/`` serving the committed supergraph), the request is passed to it as it came (body,
``Authorization``, ``X-Request-Id``) and its answer is passed back: any operation of the
supergraph works, including fields that span subgraphs. The gateway calls this API's
``/graphql/<subgraph>`` endpoints, which check the token; this endpoint checks nothing itself.
A gateway that does not answer is a 502 problem: a configured gateway is never silently skipped.

Without a gateway (the API served alone), this endpoint plays the gateway for every operation
that one subgraph can answer on its own: it finds the subgraph whose schema validates the
operation and passes the request to that subgraph's endpoint in process. An operation that
spans subgraphs (e.g. a recommendation's ``cost { points }``) is refused with a GraphQL error
``GATEWAY_REQUIRED`` that says to run the gateway. Every answer names who served it in
``X-GraphQL-Served-By`` (``gateway`` or ``subgraph:<name>``).

Subscriptions are not here: Apollo Gateway does not carry them; clients connect to
``/graphql/live`` (``graphql-transport-ws``) directly.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import httpx
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from graphql import GraphQLError, GraphQLSchema, parse, validate

from cloudops.api.problems import problem_response
from cloudops.api.state import ApiState

__all__ = ["SERVED_BY", "mount_supergraph", "owning_subgraph"]

SERVED_BY = "X-GraphQL-Served-By"
_FORWARDED = ("authorization", "content-type", "accept", "x-request-id")
_CACHE_SIZE = 512


class _Owners:
    """Which subgraph answers an operation (by its text), remembered for the most recent ones."""

    def __init__(self, schemas: dict[str, GraphQLSchema]) -> None:
        self._schemas = schemas
        self._seen: OrderedDict[str, str | GraphQLError] = OrderedDict()

    def owner(self, query: str) -> str | GraphQLError:
        hit = self._seen.get(query)
        if hit is None:
            hit = owning_subgraph(self._schemas, query)
            self._seen[query] = hit
            if len(self._seen) > _CACHE_SIZE:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end(query)
        return hit


def owning_subgraph(schemas: dict[str, GraphQLSchema], query: str) -> str | GraphQLError:
    """The first subgraph (by name) whose schema validates ``query``, or the error to answer with."""
    try:
        document = parse(query)
    except GraphQLError as exc:
        return exc
    for name, schema in schemas.items():
        if not validate(schema, document):
            return name
    return GraphQLError(
        "no single subgraph answers this operation (it spans subgraphs, or names a field none has): "
        "run Apollo Gateway (gateway/) and start the API with --gateway-url",
        extensions={"code": "GATEWAY_REQUIRED"},
    )


def _errors(exc: GraphQLError, status: int) -> JSONResponse:
    return JSONResponse({"data": None, "errors": [exc.formatted]}, status_code=status, headers={SERVED_BY: "api"})


def _passed_back(answer: httpx.Response, served_by: str) -> Response:
    headers = {SERVED_BY: served_by}
    for name in ("content-type", "www-authenticate", "retry-after"):
        if name in answer.headers:
            headers[name] = answer.headers[name]
    return Response(answer.content, status_code=answer.status_code, headers=headers)


def mount_supergraph(app: FastAPI, state: ApiState, gateway_url: str | None) -> None:
    """Add ``POST /graphql`` to ``app``: through ``gateway_url`` when given, else one subgraph in process
    (needs the subgraphs mounted: :func:`cloudops.api.graphql.mount_subgraphs`)."""
    schemas: dict[str, GraphQLSchema] = {
        name: s._schema for name, s in state.extras.get("subgraph_schemas", {}).items()
    }
    owners = _Owners(schemas)

    async def close() -> None:
        client = state.extras.pop("gateway_client", None)
        if client is not None:
            await client.aclose()

    state.extras.setdefault("closers", []).append(close)

    def client_for(request: Request) -> httpx.AsyncClient:
        client = state.extras.get("gateway_client")
        if client is None:
            if gateway_url:
                client = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0))
            else:  # the subgraphs of this very app, in process
                transport = httpx.ASGITransport(app=request.app)
                client = httpx.AsyncClient(transport=transport, base_url="http://api", timeout=60.0)
            state.extras["gateway_client"] = client
        return client

    @app.post("/graphql", include_in_schema=False, response_model=None)
    async def supergraph(request: Request) -> Response:
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k in _FORWARDED}
        headers["x-request-id"] = request.state.request_id
        client = client_for(request)
        if gateway_url:
            try:
                answer = await client.post(gateway_url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                return problem_response(
                    request, 502, f"the GraphQL gateway at {gateway_url} does not answer: {type(exc).__name__}"
                )
            return _passed_back(answer, "gateway")
        try:
            payload: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _errors(GraphQLError("the body is not a JSON GraphQL request"), 400)
        query = payload.get("query") if isinstance(payload, dict) else None
        if not isinstance(query, str):
            return _errors(GraphQLError("the request has no query"), 400)
        owner = owners.owner(query)
        if isinstance(owner, GraphQLError):
            return _errors(owner, 400)
        answer = await client.post(f"/graphql/{owner}", content=body, headers=headers)
        return _passed_back(answer, f"subgraph:{owner}")
