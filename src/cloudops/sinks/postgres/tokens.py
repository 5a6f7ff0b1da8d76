"""API tokens: ``public.api_tokens`` (migration 0009).

Only SQL lives here; what a token is and how it is checked is
:mod:`cloudops.service.tokens`. Rows hold the SHA-256 of a token's secret, never the
secret. A row whose ``tenant`` is NULL is a platform-admin token. Mutations are audited in
``public.audit_log`` (:mod:`cloudops.sinks.postgres.audit_trail`) in the same transaction: under
the token's tenant, or under :data:`PLATFORM_AUDIT_TENANT` (``*``, which no tenant id can be) for
a platform-admin token.

Functions take a connection or a DSN (see :mod:`cloudops.sinks.postgres.client`) and
block the calling thread. With a borrowed connection they join the caller's open
transaction (as a savepoint) or, if none is open, commit before returning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from cloudops.errors import ConfigError
from cloudops.sinks.postgres.audit_trail import record_audit
from cloudops.sinks.postgres.client import ConnOrDsn, connection

__all__ = [
    "PLATFORM_AUDIT_TENANT",
    "TokenRow",
    "audit_token_event",
    "get_token_row",
    "insert_token",
    "list_token_rows",
    "mark_used",
    "revoke_token_row",
]

PLATFORM_AUDIT_TENANT = "*"
"""The ``tenant`` of audit rows about platform-admin tokens (not a valid tenant id, so never a tenant's)."""

_MISSING = "public.api_tokens does not exist: run the control-plane migrations (`cloudops migrate`) first"
_COLS = (
    "id, tenant, name, scopes, secret_sha256, created_at, created_by, expires_at, revoked_at, revoked_by, "
    "last_used_at, rate_limit_per_min"
)


@dataclass(frozen=True, slots=True)
class TokenRow:
    """One row of ``public.api_tokens``."""

    id: str
    tenant: str | None
    name: str
    scopes: tuple[str, ...]
    secret_sha256: bytes
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    last_used_at: datetime | None
    rate_limit_per_min: int | None
    tenant_state: str | None = None

    @classmethod
    def _from(cls, r: Mapping[str, Any]) -> TokenRow:
        return cls(
            id=str(r["id"]),
            tenant=r["tenant"],
            name=str(r["name"]),
            scopes=tuple(r["scopes"]),
            secret_sha256=bytes(r["secret_sha256"]),
            created_at=r["created_at"],
            created_by=str(r["created_by"]),
            expires_at=r["expires_at"],
            revoked_at=r["revoked_at"],
            revoked_by=r["revoked_by"],
            last_used_at=r["last_used_at"],
            rate_limit_per_min=r["rate_limit_per_min"],
            tenant_state=r.get("tenant_state"),
        )


def audit_token_event(
    conn_or_dsn: ConnOrDsn,
    tenant: str | None,
    *,
    actor: str,
    action: str,
    target: str,
    request_id: str | None,
    after: Mapping[str, Any] | None = None,
    before: Mapping[str, Any] | None = None,
) -> None:
    """One ``public.audit_log`` row about a token of ``tenant`` (None: platform admin). Blocks."""
    if tenant is not None:
        record_audit(
            conn_or_dsn,
            tenant=tenant,
            actor=actor,
            action=action,
            target=target,
            request_id=request_id,
            before=before,
            after=after,
        )
        return
    with connection(conn_or_dsn) as conn, conn.transaction():
        conn.execute(
            "INSERT INTO public.audit_log (tenant, actor, action, target, request_id, before, after) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                PLATFORM_AUDIT_TENANT,
                actor,
                action,
                target,
                request_id,
                None if before is None else Jsonb(dict(before)),
                None if after is None else Jsonb(dict(after)),
            ],
        )


def insert_token(
    conn_or_dsn: ConnOrDsn,
    *,
    id: str,
    tenant: str | None,
    name: str,
    scopes: Sequence[str],
    secret_sha256: bytes,
    created_by: str,
    expires_at: datetime | None,
    rate_limit_per_min: int | None,
    request_id: str | None,
    audit: Mapping[str, Any],
) -> TokenRow:
    """Insert a token row and its audit entry (``token.created``) in one transaction.

    ``audit`` is the entry's ``after`` image (never the secret or its hash). Raises
    :class:`~cloudops.errors.ConfigError` if the tables do not exist or the tenant is not
    registered, ``psycopg.errors.UniqueViolation`` if the id is taken. Blocks.
    """
    with connection(conn_or_dsn) as conn:
        try:
            with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                cur.execute(
                    f"INSERT INTO public.api_tokens (id, tenant, name, scopes, secret_sha256, created_by, expires_at, "
                    f"rate_limit_per_min) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_COLS}",
                    [id, tenant, name, list(scopes), secret_sha256, created_by, expires_at, rate_limit_per_min],
                )
                row = cur.fetchone()
                assert row is not None
                audit_token_event(
                    conn,
                    tenant,
                    actor=created_by,
                    action="token.created",
                    target=f"token:{id}",
                    request_id=request_id,
                    after={**audit, "token_id": id, "scopes": list(scopes)},
                )
        except psycopg.errors.UndefinedTable as exc:
            raise ConfigError(_MISSING) from exc
        except psycopg.errors.ForeignKeyViolation as exc:
            raise ConfigError(f"tenant {tenant!r} is not registered: create it first") from exc
    return TokenRow._from(row)


def get_token_row(conn_or_dsn: ConnOrDsn, token_id: str) -> TokenRow | None:
    """The row of ``token_id`` with its tenant's state (``tenant_state``; None for a platform
    token), or None. One round trip. Blocks."""
    cols = ", ".join(f"k.{c.strip()}" for c in _COLS.split(","))
    with connection(conn_or_dsn) as conn:
        try:
            with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                cur.execute(
                    f"SELECT {cols}, t.state AS tenant_state FROM public.api_tokens k "
                    "LEFT JOIN public.tenants t ON t.id = k.tenant WHERE k.id = %s",
                    [token_id],
                )
                row = cur.fetchone()
        except psycopg.errors.UndefinedTable as exc:
            raise ConfigError(_MISSING) from exc
    return None if row is None else TokenRow._from(row)


def list_token_rows(
    conn_or_dsn: ConnOrDsn, *, tenant: str | None, all_tenants: bool = False, include_revoked: bool = False
) -> list[TokenRow]:
    """Tokens of ``tenant`` (None: the platform-admin tokens; ``all_tenants``: every token), oldest first."""
    where, params = [], []
    if not all_tenants:
        if tenant is None:
            where.append("tenant IS NULL")
        else:
            where.append("tenant = %s")
            params.append(tenant)
    if not include_revoked:
        where.append("revoked_at IS NULL")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    with connection(conn_or_dsn) as conn:
        try:
            with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                cur.execute(f"SELECT {_COLS} FROM public.api_tokens{clause} ORDER BY created_at, id", params)
                rows = cur.fetchall()
        except psycopg.errors.UndefinedTable as exc:
            raise ConfigError(_MISSING) from exc
    return [TokenRow._from(r) for r in rows]


def revoke_token_row(
    conn_or_dsn: ConnOrDsn, token_id: str, *, revoked_by: str, request_id: str | None
) -> tuple[TokenRow, bool] | None:
    """Revoke a token (idempotent) with its audit entry (``token.revoked``) in one transaction.

    Returns (row, True) if this call revoked it, (row, False) if it was already revoked,
    None if there is no such token. Blocks.
    """
    with connection(conn_or_dsn) as conn:
        try:
            with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                cur.execute(
                    f"UPDATE public.api_tokens SET revoked_at = now(), revoked_by = %s "
                    f"WHERE id = %s AND revoked_at IS NULL RETURNING {_COLS}",
                    [revoked_by, token_id],
                )
                row = cur.fetchone()
                if row is None:
                    cur.execute(f"SELECT {_COLS} FROM public.api_tokens WHERE id = %s", [token_id])
                    old = cur.fetchone()
                    return None if old is None else (TokenRow._from(old), False)
                audit_token_event(
                    conn,
                    row["tenant"],
                    actor=revoked_by,
                    action="token.revoked",
                    target=f"token:{token_id}",
                    request_id=request_id,
                    before={"revoked_at": None},
                    after={"revoked_at": row["revoked_at"].isoformat()},
                )
        except psycopg.errors.UndefinedTable as exc:
            raise ConfigError(_MISSING) from exc
    return TokenRow._from(row), True


def mark_used(conn_or_dsn: ConnOrDsn, token_id: str, *, min_interval_s: float) -> bool:
    """Record that the token was used now, unless that was recorded less than ``min_interval_s`` ago.

    Returns True if the row was written. Bounding the writes keeps a busy token from
    turning every request into an UPDATE. Blocks.
    """
    with connection(conn_or_dsn) as conn, conn.transaction():
        cur = conn.execute(
            "UPDATE public.api_tokens SET last_used_at = now() WHERE id = %s AND "
            "(last_used_at IS NULL OR last_used_at < now() - make_interval(secs => %s))",
            [token_id, min_interval_s],
        )
        return cur.rowcount == 1
