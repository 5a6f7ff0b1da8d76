"""Bearer-token authentication, per-token rate limits and scope checks for REST and GraphQL.

:class:`Gate` is the one entry point: ``await gate.caller(request_headers, request_id,
scope)`` returns the service :class:`~cloudops.service.context.Caller` of a request, or
raises :class:`~cloudops.service.tokens.Unauthenticated` (401),
:class:`~cloudops.service.context.Forbidden` (403, audited) or
:class:`~cloudops.api.problems.RateLimited` (429).

A checked token is trusted for ``api.auth_cache_s`` seconds by this replica (keyed by the
SHA-256 of the whole token string, so the cache never holds a secret); a token revoked
through this replica is forgotten at once. Rate limits count requests per token in fixed
one-minute windows: in Redis when configured (shared by every replica; key
``cloudops:_rl:<token id>:<window>``, which no tenant's namespace can hold), else in
process memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from cloudops.api.problems import RateLimited
from cloudops.errors import TransientError
from cloudops.metrics import API_AUTH_FAILURES
from cloudops.service.context import Caller, Forbidden
from cloudops.service.tokens import Identity, Unauthenticated, authenticate, caller_for, record_denied
from cloudops.settings import Settings

__all__ = ["Gate", "RateLimiter", "bearer"]

_WINDOW_S = 60
_INCR = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


def bearer(headers: Mapping[str, str]) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; Unauthenticated if there is none."""
    value = headers.get("authorization") or headers.get("Authorization") or ""
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send the token as `Authorization: Bearer <token>`")
    return token.strip()


class RateLimiter:
    """Fixed one-minute windows per token: Redis when given, else this process's memory."""

    def __init__(self, redis: aioredis.Redis | None) -> None:
        self._redis = redis
        self._script = redis.register_script(_INCR) if redis is not None else None
        self._local: dict[tuple[str, int], int] = {}

    async def hit(self, token_id: str, limit: int, *, now: float | None = None) -> None:
        """Count one request; :class:`RateLimited` (with seconds to the next window) beyond ``limit``."""
        moment = time.time() if now is None else now
        window = int(moment // _WINDOW_S)
        retry_after = max(1, int((window + 1) * _WINDOW_S - moment + 0.999))
        if self._script is not None:
            try:
                count = int(await self._script(keys=[f"cloudops:_rl:{token_id}:{window}"], args=[_WINDOW_S + 1]))
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                raise TransientError(f"Redis unavailable: {exc}") from exc
        else:
            if len(self._local) > 100_000:
                self._local = {k: v for k, v in self._local.items() if k[1] >= window}
            count = self._local[(token_id, window)] = self._local.get((token_id, window), 0) + 1
        if count > limit:
            raise RateLimited(retry_after, limit)


class Gate:
    """Authenticate, rate-limit and authorise requests for one app."""

    def __init__(self, settings: Settings, redis: aioredis.Redis | None) -> None:
        self.settings = settings
        self.limiter = RateLimiter(redis)
        self._cache: dict[bytes, tuple[float, Identity]] = {}

    def _dsn(self) -> str:
        dsn = self.settings.postgres.dsn
        if not dsn:
            raise Unauthenticated("this deployment has no control plane, so no tokens")
        return dsn

    async def identity(self, headers: Mapping[str, str], request_id: str) -> Identity:
        """Who sent the request (cached briefly); Unauthenticated otherwise."""
        try:
            token = bearer(headers)
        except Unauthenticated:
            API_AUTH_FAILURES.labels("missing").inc()
            raise
        key = hashlib.sha256(token.encode()).digest()
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.settings.api.auth_cache_s:
            ident = hit[1]
            if ident.expires_at is None or ident.expires_at.timestamp() > time.time():
                return ident
        try:
            ident = await asyncio.to_thread(authenticate, self._dsn(), token, request_id=request_id)
        except Unauthenticated as exc:
            self._cache.pop(key, None)
            API_AUTH_FAILURES.labels(str(exc).removeprefix("token ").split(" ")[0]).inc()
            raise
        if self.settings.api.auth_cache_s > 0:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now, ident)
        return ident

    def forget(self, token_id: str) -> None:
        """Stop trusting a token at once (it was revoked through this replica)."""
        self._cache = {k: v for k, v in self._cache.items() if v[1].token_id != token_id}

    async def caller(
        self, headers: Mapping[str, str], request_id: str, scope: str | None, *, path: str | None = None
    ) -> tuple[Caller, Identity]:
        """The request's caller (bound to the token's tenant) after auth, rate limit and ``scope``."""
        ident = await self.identity(headers, request_id)
        await self.limiter.hit(ident.token_id, ident.rate_limit_per_min or self.settings.api.rate_limit_per_min)
        if scope is not None and not ident.has(scope):
            API_AUTH_FAILURES.labels("scope").inc()
            await asyncio.to_thread(
                record_denied, self._dsn(), ident, reason=f"missing scope {scope}", request_id=request_id, path=path
            )
            raise Forbidden(f"this token lacks the scope {scope!r}")
        return caller_for(ident, self.settings, request_id), ident
