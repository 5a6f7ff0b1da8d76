"""A tenant's ClickHouse footprint: its database ``tenant_<t>`` and, where the server allows access
management, its reader user and role (see :mod:`cloudops.sinks.clickhouse.access`).

Provisioning is :func:`cloudops.sinks.clickhouse.migrate` plus
:func:`~cloudops.sinks.clickhouse.access.provision_tenant_user`; this module removes it all.
"""

from __future__ import annotations

import logging

from clickhouse_connect.driver.exceptions import DatabaseError

from cloudops.sinks.clickhouse.client import ClickHouse, database_for

__all__ = ["database_exists", "drop_tenant"]

log = logging.getLogger(__name__)


def database_exists(ch: ClickHouse, tenant: str) -> bool:
    """True if ``tenant_<t>`` exists."""
    db = database_for(tenant)
    rows = ch.call(lambda c: c.query("SELECT count() FROM system.databases WHERE name = {db:String}", {"db": db}))
    return bool(rows.result_rows[0][0])


def drop_tenant(ch: ClickHouse, tenant: str) -> bool:
    """Drop the tenant's database (every table and view in it) and its user and role. Idempotent.

    Returns True if the database existed. A server that refuses access management leaves
    no user to drop (the refusal is logged at debug level). Blocks.
    """
    db = database_for(tenant)
    existed = database_exists(ch, tenant)
    ch.command(f"DROP DATABASE IF EXISTS {db} SYNC")
    for stmt in (f"DROP USER IF EXISTS {db}", f"DROP ROLE IF EXISTS {db}_reader"):
        try:
            ch.command(stmt)
        except DatabaseError as exc:
            log.debug("clickhouse: %s refused: %s", stmt, str(exc).splitlines()[0][:200])
    return existed
