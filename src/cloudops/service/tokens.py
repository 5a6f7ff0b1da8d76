"""API tokens: create (shown once), list, revoke, and authenticate a presented token.

A token reads ``cop_<id>_<secret>``: ``id`` is 16 hex digits (public: it names the token
in lists, logs and audit entries), ``secret`` is 32 random bytes in URL-safe base64. Only
SHA-256 of the secret is stored (a high-entropy secret needs no slow hash); the whole
token is returned once, by :func:`create_token`, and can never be read again.

A token is bound to one tenant, or to none: a *platform-admin* token (``tenant is None``)
manages tenants, dead letters and other tokens but reads no tenant's data. Every request
made with a token acts for the token's tenant only: the tenant comes from the token,
never from the request. Scopes (:data:`SCOPES`) say what a token may do; the
platform-only ones (:data:`PLATFORM_SCOPES`) cannot be given to a tenant token. A token
for another system (service-to-service) is the same thing with its own name, narrow
scopes and rate limit.

Every mutation (create, revoke) writes a ``public.audit_log`` row in the same transaction:
actor (the creating token's identity, or ``cli:<user>``), request id, target ``token:<id>``,
scopes; under the token's tenant, or under ``*`` for a platform-admin token. A token refused
for being expired, revoked, of a deleted tenant or lacking a scope leaves an ``auth.denied``
row too (an unknown token cannot be attributed to any tenant and is only counted by the
API's metrics).

Every function blocks (PostgreSQL); from async code call through ``asyncio.to_thread``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cloudops.service.context import Caller, Forbidden, NotFound, ServiceError
from cloudops.settings import Settings, validate_tenant
from cloudops.sinks.postgres.client import ConnOrDsn
from cloudops.sinks.postgres.tokens import (
    TokenRow,
    audit_token_event,
    get_token_row,
    insert_token,
    list_token_rows,
    mark_used,
    revoke_token_row,
)

__all__ = [
    "PLATFORM_SCOPES",
    "SCOPES",
    "TOKEN_PREFIX",
    "ApiToken",
    "Identity",
    "IssuedToken",
    "Unauthenticated",
    "authenticate",
    "caller_for",
    "create_token",
    "hash_secret",
    "list_tokens",
    "parse_expiry",
    "record_denied",
    "revoke_token",
    "split_token",
]

TOKEN_PREFIX = "cop_"

SCOPES: dict[str, str] = {
    "costs:read": "cost queries (JSON, CSV, explain) and cost series",
    "sources:read": "list and show the tenant's billing sources",
    "sources:write": "create and update the tenant's billing sources",
    "files:read": "the file ledger: state, counts, totals, last error",
    "periods:read": "billing periods and their versions",
    "recommendations:read": "list and show recommendations and their pull requests",
    "recommendations:write": "dismiss and snooze recommendations",
    "events:read": "live subscriptions (file progress, receipts, period swaps, recommendations)",
    "tokens:admin": "create, list and revoke tokens (a tenant token: of its own tenant, within its own scopes)",
    "tenants:admin": "platform only: create, list, suspend and delete tenants",
    "dlq:admin": "list, show and replay dead letters (a tenant token: its own tenant's only)",
}
PLATFORM_SCOPES = frozenset({"tenants:admin"})

_ID = re.compile(r"[0-9a-f]{16}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")
_DURATION = re.compile(r"(\d+)([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_MARK_USED_EVERY_S = 60.0


class Unauthenticated(ServiceError):
    """No usable token: missing, malformed, unknown, expired or revoked (HTTP 401)."""

    status = 401


@dataclass(frozen=True, slots=True)
class ApiToken:
    """What can be shown of a token (never its secret or hash)."""

    id: str
    tenant: str | None
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    rate_limit_per_min: int | None

    @property
    def platform_admin(self) -> bool:
        return self.tenant is None

    @classmethod
    def _from(cls, row: TokenRow) -> ApiToken:
        return cls(
            id=row.id,
            tenant=row.tenant,
            name=row.name,
            scopes=row.scopes,
            created_at=row.created_at,
            created_by=row.created_by,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            last_used_at=row.last_used_at,
            rate_limit_per_min=row.rate_limit_per_min,
        )


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just created: ``secret`` is the whole token string, shown this once."""

    token: ApiToken
    secret: str


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling: the token that authenticated a request."""

    token_id: str
    tenant: str | None
    name: str
    scopes: frozenset[str]
    expires_at: datetime | None
    rate_limit_per_min: int | None

    @property
    def actor(self) -> str:
        """How this caller appears in audit entries."""
        return f"token:{self.token_id}"

    @property
    def platform_admin(self) -> bool:
        return self.tenant is None

    def has(self, scope: str) -> bool:
        return scope in self.scopes

    def require(self, scope: str) -> None:
        """Raise :class:`Forbidden` unless the token holds ``scope``."""
        if scope not in self.scopes:
            raise Forbidden(f"this token lacks the scope {scope!r}")

    def require_tenant(self) -> str:
        """The tenant this token acts for; :class:`Forbidden` for a platform-admin token."""
        if self.tenant is None:
            raise Forbidden("a platform-admin token is bound to no tenant: use a tenant token to read tenant data")
        return self.tenant


def caller_for(identity: Identity, settings: Settings, request_id: str) -> Caller:
    """The service-layer caller of a request made with this token: bound to the token's tenant
    (a platform-admin token: bound to none, ``platform=True``)."""
    return Caller(
        actor=identity.actor,
        tenant=identity.tenant,
        settings=settings,
        request_id=request_id,
        platform=identity.platform_admin,
    )


def hash_secret(secret: str) -> bytes:
    """SHA-256 of a token's secret part."""
    return hashlib.sha256(secret.encode("ascii")).digest()


def split_token(presented: str) -> tuple[str, str]:
    """(id, secret) of a token string; :class:`Unauthenticated` if it is not shaped like one."""
    body = presented.strip()
    if not body.startswith(TOKEN_PREFIX):
        raise Unauthenticated("not a cloudops token")
    token_id, sep, secret = body[len(TOKEN_PREFIX) :].partition("_")
    if not sep or not _ID.fullmatch(token_id) or not _SECRET.fullmatch(secret):
        raise Unauthenticated("malformed token")
    return token_id, secret


def parse_expiry(text: str | None, *, now: datetime | None = None) -> datetime | None:
    """When a token given ``--expires TEXT`` expires: ``30d``/``12h``/``90m``/``2w`` from now, an ISO
    date or time (UTC unless it says otherwise), or ``never`` (None). ValueError otherwise."""
    if text is None or text.strip().lower() == "never":
        return None
    now = now or datetime.now(UTC)
    raw = text.strip()
    m = _DURATION.fullmatch(raw)
    if m:
        return now + timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"--expires {text!r}: write 30d, 12h, 2w, an ISO date/time, or never") from None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if when <= now:
        raise ValueError(f"--expires {text!r} is in the past")
    return when


def _check_scopes(scopes: Iterable[str], tenant: str | None) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(s.strip() for s in scopes if s.strip()))
    if not chosen:
        raise ValueError("a token needs at least one scope")
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}: choose from {', '.join(SCOPES)}")
    platform = [s for s in chosen if s in PLATFORM_SCOPES]
    if tenant is not None and platform:
        raise ValueError(f"{', '.join(platform)} can be given only to a platform-admin token (no --tenant)")
    return chosen


def create_token(
    conn_or_dsn: ConnOrDsn,
    *,
    tenant: str | None,
    scopes: Iterable[str],
    name: str,
    expires_at: datetime | None,
    actor: str,
    request_id: str | None = None,
    by: Identity | None = None,
    rate_limit_per_min: int | None = None,
) -> IssuedToken:
    """Create a token for ``tenant`` (None: platform admin) and return it with its secret, once.

    ``actor`` is who asks (``cli:<user>``, or ``by.actor`` through the API). With ``by`` (a
    request's token) the caller must hold ``tokens:admin``; a tenant token may create
    tokens only for its own tenant and only with scopes it holds itself. Audited in the
    same transaction (``token.created``). Not idempotent: every call issues a new token.

    Raises ValueError (bad scopes, name, tenant id or expiry), :class:`Forbidden`,
    :class:`~cloudops.errors.ConfigError` (tables missing, tenant not registered). Blocks.
    (:class:`Forbidden` is :class:`cloudops.service.context.Forbidden`.)
    """
    if tenant is not None:
        validate_tenant(tenant)
    chosen = _check_scopes(scopes, tenant)
    if not name.strip() or len(name) > 200:
        raise ValueError("a token needs a name of 1..200 characters")
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise ValueError("expires_at is in the past")
    if rate_limit_per_min is not None and rate_limit_per_min < 1:
        raise ValueError("rate_limit_per_min must be at least 1")
    if by is not None:
        by.require("tokens:admin")
        if not by.platform_admin:
            if tenant != by.tenant:
                raise Forbidden("a tenant token creates tokens for its own tenant only")
            beyond = [s for s in chosen if s not in by.scopes]
            if beyond:
                raise Forbidden(f"cannot grant scopes this token does not hold: {', '.join(beyond)}")
    token_id = secrets.token_hex(8)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
    row = insert_token(
        conn_or_dsn,
        id=token_id,
        tenant=tenant,
        name=name.strip(),
        scopes=chosen,
        secret_sha256=hash_secret(secret),
        created_by=actor,
        expires_at=expires_at,
        rate_limit_per_min=rate_limit_per_min,
        request_id=request_id,
        audit={"name": name.strip(), "expires_at": _iso(expires_at), "rate_limit_per_min": rate_limit_per_min},
    )
    return IssuedToken(ApiToken._from(row), f"{TOKEN_PREFIX}{token_id}_{secret}")


def list_tokens(
    conn_or_dsn: ConnOrDsn,
    *,
    tenant: str | None,
    include_revoked: bool = False,
    all_tenants: bool = False,
    by: Identity | None = None,
) -> list[ApiToken]:
    """The tokens of ``tenant`` (None: platform-admin tokens; ``all_tenants``: every token).

    With ``by``, it must hold ``tokens:admin``, and a tenant token sees its own tenant's
    tokens only. Never returns secrets or hashes. Blocks.
    """
    if by is not None:
        by.require("tokens:admin")
        if not by.platform_admin and (all_tenants or tenant != by.tenant):
            raise Forbidden("a tenant token lists its own tenant's tokens only")
    rows = list_token_rows(conn_or_dsn, tenant=tenant, all_tenants=all_tenants, include_revoked=include_revoked)
    return [ApiToken._from(r) for r in rows]


def revoke_token(
    conn_or_dsn: ConnOrDsn,
    token_id: str,
    *,
    actor: str,
    request_id: str | None = None,
    tenant: str | None = None,
    by: Identity | None = None,
) -> ApiToken:
    """Revoke a token at once (idempotent: revoking again changes nothing and audits nothing).

    ``tenant``: when given (the CLI's ``--tenant``), the token must belong to it. With
    ``by``, it must hold ``tokens:admin`` and a tenant token may revoke its own tenant's
    tokens only. A token of another tenant reads as not found (its existence is not
    disclosed). Raises :class:`~cloudops.service.context.NotFound` (no such token),
    :class:`Forbidden`. Blocks.
    """
    if by is not None:
        by.require("tokens:admin")
    row = get_token_row(conn_or_dsn, token_id) if _ID.fullmatch(token_id) else None
    foreign = row is not None and (
        (tenant is not None and row.tenant != tenant)
        or (by is not None and not by.platform_admin and row.tenant != by.tenant)
    )
    if row is None or foreign:
        raise NotFound(f"no token {token_id!r}")
    done = revoke_token_row(conn_or_dsn, token_id, revoked_by=actor, request_id=request_id)
    if done is None:
        raise NotFound(f"no token {token_id!r}")
    return ApiToken._from(done[0])


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _audit_denied(
    conn_or_dsn: ConnOrDsn, tenant: str | None, token_id: str, request_id: str | None, detail: Mapping[str, Any]
) -> None:
    audit_token_event(
        conn_or_dsn,
        tenant,
        actor=f"token:{token_id}",
        action="auth.denied",
        target=f"token:{token_id}",
        request_id=request_id,
        after=dict(detail),
    )


def authenticate(
    conn_or_dsn: ConnOrDsn, presented: str, *, request_id: str | None = None, now: datetime | None = None
) -> Identity:
    """The identity of a presented token; :class:`Unauthenticated` if it is not a live token.

    Checks shape, existence, the secret (constant-time), revocation, expiry and that its
    tenant is not being deleted. A known token refused so leaves an ``auth.denied`` audit
    row (reason, request id). Records
    ``last_used_at`` at most once a minute per token. Blocks (one or two round trips).
    """
    token_id, secret = split_token(presented)
    row = get_token_row(conn_or_dsn, token_id)
    if row is None or not hmac.compare_digest(row.secret_sha256, hash_secret(secret)):
        raise Unauthenticated("unknown token")
    now = now or datetime.now(UTC)
    reason = None
    if row.revoked_at is not None:
        reason = "revoked"
    elif row.expires_at is not None and row.expires_at <= now:
        reason = "expired"
    elif row.tenant is not None and row.tenant_state in ("deleting", "deleted"):
        reason = f"tenant {row.tenant_state}"
    if reason is not None:
        _audit_denied(conn_or_dsn, row.tenant, token_id, request_id, {"reason": reason})
        raise Unauthenticated(f"token {reason}")
    mark_used(conn_or_dsn, token_id, min_interval_s=_MARK_USED_EVERY_S)
    return Identity(
        token_id=row.id,
        tenant=row.tenant,
        name=row.name,
        scopes=frozenset(row.scopes),
        expires_at=row.expires_at,
        rate_limit_per_min=row.rate_limit_per_min,
    )


def record_denied(
    conn_or_dsn: ConnOrDsn, identity: Identity, *, reason: str, request_id: str | None, path: str | None = None
) -> None:
    """Audit a request refused for a valid token (a missing scope, the wrong kind of token). Blocks."""
    _audit_denied(conn_or_dsn, identity.tenant, identity.token_id, request_id, {"reason": reason, "path": path})
