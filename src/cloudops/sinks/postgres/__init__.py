"""PostgreSQL sink: the control plane (tenant registry, per-tenant schemas, audit log).

Synchronous psycopg 3; every function blocks the calling thread (from async code use
``asyncio.to_thread``). Tenant data lives in schema ``tenant_<id>``, shared data in
``public``. See :mod:`cloudops.sinks.postgres.migrations` for the migration contract.
"""

from cloudops.sinks.postgres.audit import AuditEntry, append_audit, read_audit
from cloudops.sinks.postgres.client import ConnOrDsn, connect, redact_dsn, schema_for
from cloudops.sinks.postgres.migrations import (
    Migration,
    all_migrations,
    applied_versions,
    migrate,
    migrate_public,
    pending,
)
from cloudops.sinks.postgres.tenants import Tenant, list_tenants, register_tenant

__all__ = [
    "AuditEntry",
    "ConnOrDsn",
    "Migration",
    "Tenant",
    "all_migrations",
    "append_audit",
    "applied_versions",
    "connect",
    "list_tenants",
    "migrate",
    "migrate_public",
    "pending",
    "read_audit",
    "redact_dsn",
    "register_tenant",
    "schema_for",
]
