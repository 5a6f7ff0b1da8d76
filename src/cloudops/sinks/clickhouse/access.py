"""Per-tenant ClickHouse users: each tenant's queries run as a user that can read only its database.

The query layer already binds every query to one tenant database (the planner validates
it); on a ClickHouse server this adds a second wall, in the server itself. For tenant ``t``:

* role ``tenant_<t>_reader`` with ``SELECT`` on ``tenant_<t>.*`` and nothing else;
* user ``tenant_<t>`` (password: HMAC-SHA256 of the tenant id under
  ``CLOUDOPS_CLICKHOUSE__TENANT_PASSWORD_KEY``, stored by the server as a SHA-256 hash),
  whose default role is that one.

The loaders keep the service user of the DSN (they insert and migrate). ``cloudops
migrate`` provisions the user when the key is set; a server (or an embedded engine) that
does not allow access management from the migrating user (``ACCESS_DENIED``,
``NOT_IMPLEMENTED``) is reported and skipped, never a failed migration.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import urllib.parse
from dataclasses import dataclass

from clickhouse_connect.driver.exceptions import DatabaseError

from cloudops.sinks.clickhouse.client import ClickHouse, connect, database_for

__all__ = [
    "TenantAccess",
    "access_statements",
    "connect_tenant",
    "provision_tenant_user",
    "tenant_access",
    "tenant_dsn",
]

log = logging.getLogger(__name__)
_UNSUPPORTED = ("ACCESS_DENIED", "NOT_IMPLEMENTED", "UNSUPPORTED_METHOD", "Code: 497", "Code: 48.")


@dataclass(frozen=True)
class TenantAccess:
    user: str
    role: str
    database: str
    password: str

    def __repr__(self) -> str:  # never print the password
        return f"TenantAccess(user={self.user!r}, role={self.role!r}, database={self.database!r})"


def tenant_access(tenant: str, key: str) -> TenantAccess:
    """The tenant's user, role and derived password (deterministic: no password store needed)."""
    db = database_for(tenant)
    password = hmac.new(key.encode(), f"clickhouse:{tenant}".encode(), hashlib.sha256).hexdigest()
    return TenantAccess(user=db, role=f"{db}_reader", database=db, password=password)


def access_statements(access: TenantAccess) -> list[str]:
    """The DDL that creates (or re-asserts) the tenant's role and user. Idempotent.

    Identifiers come from :func:`database_for` (validated); the password goes in as its
    SHA-256 hash only.
    """
    digest = hashlib.sha256(access.password.encode()).hexdigest()
    return [
        f"CREATE ROLE IF NOT EXISTS {access.role}",
        f"GRANT SELECT ON {access.database}.* TO {access.role}",
        f"CREATE USER IF NOT EXISTS {access.user} IDENTIFIED WITH sha256_hash BY '{digest}'",
        f"ALTER USER {access.user} IDENTIFIED WITH sha256_hash BY '{digest}'",
        f"GRANT {access.role} TO {access.user}",
        f"ALTER USER {access.user} DEFAULT ROLE {access.role}",
    ]


def provision_tenant_user(ch: ClickHouse, tenant: str, key: str) -> bool:
    """Create the tenant's reader role and user. False (logged) where the server does not allow it."""
    access = tenant_access(tenant, key)
    for stmt in access_statements(access):
        try:
            ch.command(stmt)
        except DatabaseError as exc:
            if any(marker in str(exc) for marker in _UNSUPPORTED):
                log.warning(
                    "clickhouse: no per-tenant user for %s: the server does not allow access management to this "
                    "user (%s); tenant isolation rests on the query layer alone",
                    tenant,
                    str(exc).splitlines()[0][:200],
                )
                return False
            raise
    return True


def tenant_dsn(dsn: str, tenant: str, key: str) -> str:
    """``dsn`` with the tenant's user and password in place of the service user (http(s) DSNs only)."""
    parts = urllib.parse.urlsplit(dsn)
    if parts.scheme not in ("http", "https", "clickhouse", "clickhouses"):
        return dsn
    access = tenant_access(tenant, key)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{access.user}:{urllib.parse.quote(access.password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def connect_tenant(dsn: str, tenant: str, key: str | None) -> ClickHouse:
    """The connection tenant queries use: as the tenant's own user when a key is set (servers only)."""
    return connect(tenant_dsn(dsn, tenant, key) if key else dsn)
