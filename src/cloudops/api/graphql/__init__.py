"""GraphQL: three federation subgraphs and the live-events endpoint.

* ``/graphql/costs``: cost questions, ``CostSeries`` (key ``resourceId``)
* ``/graphql/recommendations``: ``Recommendation`` (key ``fingerprint``) -> ``CostSeries`` of its resource
* ``/graphql/ingest``: ``Source`` (key ``id``) -> its ``files``; ``File`` (key ``fileId``); periods
* ``/graphql/live``: subscriptions (``graphql-transport-ws``), not federated: Apollo Gateway does
  not proxy subscriptions, clients connect here directly

The supergraph is composed offline from :func:`subgraph_sdl` output (``python -m
cloudops.api.export``; ``gateway/``, npm ``@apollo/composition``) and served by Apollo Gateway.
Every endpoint enforces a depth and a cost limit (``api.graphql_max_depth``,
``api.graphql_max_cost``) before running anything.
"""

from __future__ import annotations

from typing import Any, Final

import strawberry
from fastapi import FastAPI
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from cloudops.api.graphql import costs, ingest, live, recommendations
from cloudops.api.graphql.context import GqlContext, context_getter
from cloudops.api.graphql.limits import limits
from cloudops.api.state import ApiState
from cloudops.settings import Settings

__all__ = ["SUBGRAPHS", "build_schemas", "mount_subgraphs", "subgraph_sdl"]

SUBGRAPHS = ("costs", "recommendations", "ingest")
FEDERATION_VERSION: Final = "2.5"


def build_schemas(settings: Settings) -> dict[str, strawberry.Schema]:
    """The three subgraph schemas and the live schema, with the configured limits."""
    ext = limits(settings.api.graphql_max_depth, settings.api.graphql_max_cost)
    parts = {
        "costs": costs.schema_parts(),
        "recommendations": recommendations.schema_parts(),
        "ingest": ingest.schema_parts(),
    }
    out: dict[str, strawberry.Schema] = {
        name: strawberry.federation.Schema(**p, extensions=ext, federation_version=FEDERATION_VERSION)
        for name, p in parts.items()
    }
    out["live"] = strawberry.Schema(**live.schema_parts(), extensions=ext)
    return out


def subgraph_sdl(schema: strawberry.Schema) -> str:
    """A subgraph's SDL as the gateway's composition reads it (``_service { sdl }``)."""
    result = schema.execute_sync("{ _service { sdl } }")
    if result.errors or result.data is None:
        raise RuntimeError(f"the subgraph cannot print its SDL: {result.errors}")
    return str(result.data["_service"]["sdl"]).strip() + "\n"


class _Router(GraphQLRouter[GqlContext, None]):
    async def on_ws_connect(self, context: GqlContext) -> UnsetType | dict[str, object] | None:
        params: Any = context.connection_params or {}
        items: dict[str, Any] = params if isinstance(params, dict) else {}
        headers = {k.lower(): str(v) for k, v in items.items()}
        request = context.request
        if "authorization" not in headers and request is not None:
            headers["authorization"] = request.headers.get("authorization", "")
        try:
            await context.authenticate(headers)
        except Exception as exc:
            raise ConnectionRejectionError({"reason": str(exc)}) from exc
        accepted: UnsetType = UNSET
        return accepted


def mount_subgraphs(app: FastAPI, state: ApiState) -> None:
    """Mount every GraphQL endpoint on ``app``; the live endpoint gets an event hub when Redis is set."""
    schemas = build_schemas(state.settings)
    state.extras["subgraph_schemas"] = {n: schemas[n] for n in SUBGRAPHS}  # for POST /graphql without a gateway
    for name, schema in schemas.items():
        router = _Router(
            schema,
            context_getter=context_getter,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL] if name == "live" else [],
            graphql_ide=None,
        )
        app.include_router(router, prefix=f"/graphql/{name}", include_in_schema=False)
    if state.settings.redis.url:
        state.extras["hub"] = live.EventHub(state.settings.redis.url)
