"""Dismissed and snoozed recommendations: ``snoozed_until`` and ``dismissed_savings`` of
``tenant_<id>.recommendations`` (migration 0010).

A dismissal records the monthly savings it was made at; a snooze also records until when.
:func:`revivable` finds dismissed fingerprints whose snooze has run out or whose savings
have since changed materially (the recommender keeps updating the savings of a dismissed
row it finds again): those may be proposed again. Functions block; with a borrowed
connection they join the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from cloudops.errors import ConfigError
from cloudops.sinks.postgres.client import ConnOrDsn, connection, schema_for

__all__ = ["record_dismissal", "revivable"]


def _table(tenant: str) -> sql.Identifier:
    return sql.Identifier(schema_for(tenant), "recommendations")


def _run(conn: psycopg.Connection[Any], tenant: str, query: sql.Composed, params: list[Any]) -> list[tuple[Any, ...]]:
    try:
        with conn.transaction():
            cur = conn.execute(query, params)
            return list(cur.fetchall()) if cur.description else []
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
        raise ConfigError(
            f"{schema_for(tenant)}.recommendations is not up to date: run `cloudops migrate --tenant {tenant}`"
        ) from exc


def record_dismissal(conn_or_dsn: ConnOrDsn, tenant: str, fingerprint: str, *, until: datetime | None) -> None:
    """Remember the savings the fingerprint was dismissed at, and (a snooze) until when. Blocks."""
    query = sql.SQL(
        "UPDATE {} SET dismissed_savings = monthly_savings, snoozed_until = %s WHERE fingerprint = %s"
    ).format(_table(tenant))
    with connection(conn_or_dsn) as conn:
        _run(conn, tenant, query, [until, fingerprint])


def revivable(conn_or_dsn: ConnOrDsn, tenant: str, *, now: datetime, material: Decimal) -> list[tuple[str, str]]:
    """(fingerprint, why) of dismissed recommendations that may be proposed again: snoozed until
    before ``now``, or whose monthly savings moved by more than ``material`` (a fraction, e.g.
    0.2) from the savings they were dismissed at. A dismissal without a snooze lasts until the
    savings change. Blocks."""
    query = sql.SQL(
        "SELECT fingerprint, CASE WHEN snoozed_until IS NOT NULL AND snoozed_until <= %s THEN 'snooze ended' "
        "ELSE 'savings changed from ' || dismissed_savings::text || ' to ' || monthly_savings::text END "
        "FROM {} WHERE state = 'dismissed' AND ((snoozed_until IS NOT NULL AND snoozed_until <= %s) OR "
        "(dismissed_savings IS NOT NULL AND abs(monthly_savings - dismissed_savings) > %s * dismissed_savings)) "
        "ORDER BY fingerprint"
    ).format(_table(tenant))
    with connection(conn_or_dsn) as conn:
        return [(str(r[0]), str(r[1])) for r in _run(conn, tenant, query, [now, now, material])]
