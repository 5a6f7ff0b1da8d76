"""What one API process holds: settings, the auth gate, the cost engine, Redis, the event hub.

Made by :func:`cloudops.api.app.create_api` at startup and closed at shutdown; handlers
reach it as ``request.app.state.api``. :func:`authorized` is the FastAPI dependency that
turns a request into a service :class:`~cloudops.service.context.Caller`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import redis.asyncio as aioredis
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cloudops.api.auth import Gate
from cloudops.service.context import Caller
from cloudops.service.costs import Costs
from cloudops.settings import Settings

__all__ = ["ApiState", "authorized", "blocking", "state_of"]

P = ParamSpec("P")
T = TypeVar("T")

_bearer = HTTPBearer(auto_error=False, description="An API token: `cloudops tokens create` or POST /v1/tokens.")


@dataclass
class ApiState:
    settings: Settings
    gate: Gate
    costs: Costs
    redis: aioredis.Redis | None
    extras: dict[str, Any] = field(default_factory=dict)

    async def close(self) -> None:
        for close in self.extras.pop("closers", []):  # what mounted endpoints opened (e.g. HTTP clients)
            await close()
        hub = self.extras.pop("hub", None)
        if hub is not None:
            await hub.close()
        await self.costs.close()
        if self.redis is not None:
            await self.redis.aclose()


def state_of(request: Any) -> ApiState:
    """The :class:`ApiState` of the app serving ``request`` (an HTTP request or a WebSocket)."""
    state = request.app.state.api
    assert isinstance(state, ApiState)
    return state


async def blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a blocking service function on a worker thread."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def authorized(scope: str | None) -> Callable[..., Awaitable[Caller]]:
    """Dependency: the request's caller, after bearer auth, the token's rate limit and ``scope``."""

    async def dependency(
        request: Request, _credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> Caller:
        caller, ident = await state_of(request).gate.caller(
            request.headers, request.state.request_id, scope, path=request.url.path
        )
        request.state.identity = ident
        return caller

    return dependency
