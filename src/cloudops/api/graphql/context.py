"""The GraphQL request context: who is calling (the bearer token), per-request DataLoaders, errors.

HTTP requests are authenticated when the context is built (a missing or bad token: 401
problem+json, like REST). WebSocket connections authenticate in ``connection_init``
(``{"Authorization": "Bearer <token>"}``) or with the upgrade request's header. Each resolver
asks for its scope with :meth:`GqlContext.caller`; a missing scope is audited and becomes a
GraphQL error with ``extensions.code = "FORBIDDEN"`` (service errors keep their status:
``NOT_FOUND`` 404, ``INVALID_INPUT`` 422, ...).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import psycopg
from graphql import GraphQLError
from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext

from cloudops.api.problems import RateLimited
from cloudops.api.state import ApiState, state_of
from cloudops.errors import TransientError
from cloudops.service.context import Caller, ServiceError
from cloudops.service.tokens import Identity, Unauthenticated

__all__ = ["GqlContext", "as_graphql_error", "context_getter", "run_service"]

P = ParamSpec("P")
T = TypeVar("T")


def _code(exc: BaseException) -> str:
    name = type(exc).__name__
    return "".join(f"_{c}" if c.isupper() else c.upper() for c in name).lstrip("_")


def as_graphql_error(exc: BaseException) -> GraphQLError:
    """A service error as a GraphQL error (message, code, HTTP-like status)."""
    if isinstance(exc, Unauthenticated):
        return GraphQLError(str(exc), extensions={"code": "UNAUTHENTICATED", "status": 401})
    if isinstance(exc, ServiceError):
        return GraphQLError(str(exc), extensions={"code": _code(exc), "status": exc.status})
    if isinstance(exc, RateLimited):
        return GraphQLError(
            str(exc), extensions={"code": "RATE_LIMITED", "status": 429, "retry_after": exc.retry_after}
        )
    if isinstance(exc, TransientError):
        return GraphQLError(str(exc), extensions={"code": "UNAVAILABLE", "status": 503})
    if isinstance(exc, ValueError | psycopg.errors.DataError):
        return GraphQLError(str(exc), extensions={"code": "INVALID_INPUT", "status": 422})
    raise exc


class GqlContext(BaseContext):
    """Per request (or per WebSocket connection): the API state, the request id, the identity."""

    def __init__(self, state: ApiState, request_id: str) -> None:
        super().__init__()
        self.state = state
        self.request_id = request_id
        self.identity: Identity | None = None
        self.headers: dict[str, str] = {}
        self.loaders: dict[str, Any] = {}
        self._callers: dict[str | None, Caller] = {}

    async def authenticate(self, headers: dict[str, str]) -> Identity:
        """Check the token in ``headers`` (Authorization), rate-limit it, remember the identity."""
        caller, ident = await self.state.gate.caller(headers, self.request_id, None)
        self.headers = headers
        self.identity = ident
        self._callers[None] = caller
        return ident

    async def caller(self, scope: str) -> Caller:
        """The caller for a resolver needing ``scope`` (a GraphQLError if the token lacks it)."""
        if scope in self._callers:
            return self._callers[scope]
        if self.identity is None:
            raise as_graphql_error(Unauthenticated("send the token as `Authorization: Bearer <token>`"))
        try:
            if not self.identity.has(scope):
                # The gate audits the refusal and raises Forbidden.
                await self.state.gate.caller(self.headers, self.request_id, scope, path="graphql")
            caller = self._callers[None]
        except Exception as exc:
            raise as_graphql_error(exc) from exc
        self._callers[scope] = caller
        return caller

    def loader(self, name: str, make: Callable[[], T]) -> T:
        """The request's DataLoader ``name`` (made on first use): batching is per request."""
        if name not in self.loaders:
            self.loaders[name] = make()
        return self.loaders[name]  # type: ignore[no-any-return]


async def run_service(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a blocking use case on a thread; service errors become GraphQL errors."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except Exception as exc:
        raise as_graphql_error(exc) from exc


async def context_getter(connection: HTTPConnection) -> GqlContext:
    """FastAPI dependency building the context; authenticates HTTP requests at once (401 otherwise)."""
    state = state_of(connection)
    ctx = GqlContext(state, getattr(connection.state, "request_id", "") or "ws")
    if connection.scope["type"] == "http":
        await ctx.authenticate(dict(connection.headers))
    return ctx
