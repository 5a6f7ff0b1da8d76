"""Per-tenant Terraform targets: ``tenant_<id>.terraform_targets`` (migrations 0010, 0013), and the
GitHub webhook deliveries already handled (``public.github_deliveries``, migration 0008).

A target is where a tenant's savings PRs go: repository, base branch, path, GitHub auth (an App
installation - its id, and the App's id and private-key reference unless the deployment's App is
meant - or a token reference), Terraform state location(s), API root. Functions block; with a
borrowed connection they join the caller's transaction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from cloudops.errors import ConfigError
from cloudops.sinks.postgres.client import ConnOrDsn, connection, schema_for
from cloudops.sinks.postgres.tenants import list_tenants

__all__ = [
    "TerraformTarget",
    "delete_target",
    "get_target",
    "list_targets",
    "record_delivery",
    "targets_for_repository",
    "upsert_target",
]

_COLS = (
    "id, repository, base_branch, path, app_installation_id, token_ref, state_refs, api_url, enabled, "
    "app_id, app_key_ref"
)


@dataclass(frozen=True, slots=True)
class TerraformTarget:
    """One row of ``tenant_<id>.terraform_targets``."""

    id: str
    repository: str
    base_branch: str = "main"
    path: str = ""
    app_installation_id: int | None = None
    token_ref: str | None = None
    state_refs: list[str] = field(default_factory=list)
    api_url: str | None = None
    enabled: bool = True
    app_id: int | None = None
    app_key_ref: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (audit images, API output)."""
        return asdict(self)


def _table(tenant: str) -> sql.Identifier:
    return sql.Identifier(schema_for(tenant), "terraform_targets")


def _rows(conn: psycopg.Connection[Any], tenant: str, query: sql.Composed, params: list[Any]) -> list[dict[str, Any]]:
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, params)
            return list(cur.fetchall()) if cur.description else []
    except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName) as exc:
        raise ConfigError(
            f"{schema_for(tenant)}.terraform_targets does not exist: run `cloudops migrate --tenant {tenant}`"
        ) from exc


def upsert_target(
    conn_or_dsn: ConnOrDsn, tenant: str, target: TerraformTarget
) -> tuple[TerraformTarget | None, TerraformTarget]:
    """Create or replace a target (by id); returns (before, after). Raises CheckViolation / UniqueViolation."""
    cols = [c.strip() for c in _COLS.split(",")]
    values = [getattr(target, c) for c in cols]
    query = sql.SQL(
        "INSERT INTO {t} ("
        + _COLS
        + ") VALUES ("
        + ", ".join(["%s"] * len(cols))
        + ") ON CONFLICT (id) DO UPDATE SET "
        + ", ".join(f"{c} = EXCLUDED.{c}" for c in cols[1:])
        + " RETURNING "
        + _COLS
    ).format(t=_table(tenant))
    with connection(conn_or_dsn) as conn, conn.transaction():
        before = get_target(conn, tenant, target.id)
        (row,) = _rows(conn, tenant, query, values)
    return before, TerraformTarget(**row)


def get_target(conn_or_dsn: ConnOrDsn, tenant: str, target_id: str) -> TerraformTarget | None:
    """One target of the tenant, or None. Blocks."""
    query = sql.SQL("SELECT " + _COLS + " FROM {t} WHERE id = %s").format(t=_table(tenant))
    with connection(conn_or_dsn) as conn:
        rows = _rows(conn, tenant, query, [target_id])
    return TerraformTarget(**rows[0]) if rows else None


def list_targets(conn_or_dsn: ConnOrDsn, tenant: str) -> list[TerraformTarget]:
    """The tenant's targets, by id. Blocks."""
    query = sql.SQL("SELECT " + _COLS + " FROM {t} ORDER BY id").format(t=_table(tenant))
    with connection(conn_or_dsn) as conn:
        return [TerraformTarget(**r) for r in _rows(conn, tenant, query, [])]


def delete_target(conn_or_dsn: ConnOrDsn, tenant: str, target_id: str) -> TerraformTarget | None:
    """Remove a target; returns the removed row (None: none). Blocks."""
    query = sql.SQL("DELETE FROM {t} WHERE id = %s RETURNING " + _COLS).format(t=_table(tenant))
    with connection(conn_or_dsn) as conn:
        rows = _rows(conn, tenant, query, [target_id])
    return TerraformTarget(**rows[0]) if rows else None


def targets_for_repository(conn_or_dsn: ConnOrDsn, repository: str) -> list[tuple[str, TerraformTarget]]:
    """(tenant, target) of every enabled target of any registered tenant naming ``repository``
    (case-insensitive, as GitHub compares names). Tenants without the table are skipped. Blocks."""
    out: list[tuple[str, TerraformTarget]] = []
    with connection(conn_or_dsn) as conn:
        for tenant in list_tenants(conn):
            query = sql.SQL("SELECT " + _COLS + " FROM {t} WHERE enabled AND lower(repository) = lower(%s)").format(
                t=_table(tenant.id)
            )
            try:
                out.extend((tenant.id, TerraformTarget(**r)) for r in _rows(conn, tenant.id, query, [repository]))
            except ConfigError:
                continue
    return out


def record_delivery(
    conn_or_dsn: ConnOrDsn, delivery_id: str, *, event: str, repository: str | None, outcome: str
) -> bool:
    """Record a webhook delivery; False if it was recorded before (a redelivery: do nothing). Blocks."""
    with connection(conn_or_dsn) as conn, conn.transaction():
        row = conn.execute(
            "INSERT INTO public.github_deliveries (delivery_id, event, repository, outcome) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id",
            [delivery_id, event, repository, outcome],
        ).fetchone()
    return row is not None
