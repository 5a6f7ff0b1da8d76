"""Versions of restated billing periods (schema ``tenant_<id>``, migration 0004).

A source with ``layout = 'manifest'`` delivers each version of a billing period as a
manifest listing its files. Every version seen is a row here; exactly one per
(source, period) is ``live`` (swapped into the tables queries read). States::

    pending -> promoting -> live -> superseded
       |            \\-> failed      (verification failed; last_error says why)
       \\-> superseded             (a newer version of the period was delivered)

"Newer" is by ``(delivered_at, version)``: the manifest's delivery time, then its id.
Promotion is claimed with a lease (:func:`begin_promotion`), so of two loaders that
finish a version's last files at once only one swaps it in, and a loader that dies
mid-swap is replaced once the lease expires (the swap is idempotent).

Functions take a connection or a DSN and block the calling thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from psycopg import sql
from psycopg.types.json import Jsonb

from cloudops.sinks.postgres.client import ConnOrDsn, connection
from cloudops.sinks.postgres.ledger import _all, _t

__all__ = [
    "PeriodVersion",
    "VersionProgress",
    "begin_promotion",
    "fail_promotion",
    "finish_promotion",
    "get_version",
    "list_versions",
    "promotable",
    "register_version",
    "release_promotion",
    "version_progress",
]

VersionState = Literal["pending", "promoting", "live", "superseded", "failed"]
_COLS = (
    "source_id, period, version, manifest_key, delivered_at, files, state, rows_landed, landed_totals, "
    "last_error, created_at, updated_at, promoted_at"
)


@dataclass(frozen=True, slots=True)
class PeriodVersion:
    source_id: str
    period: date
    version: str
    manifest_key: str
    delivered_at: datetime
    files: list[str]
    state: VersionState
    rows_landed: int | None
    landed_totals: dict[str, str] | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    promoted_at: datetime | None


@dataclass(frozen=True, slots=True)
class VersionProgress:
    """Ledger states of a version's files (object keys listed by its manifest)."""

    expected: int
    reconciled: int
    rejected: int
    failed: int
    other: int

    @property
    def complete(self) -> bool:
        """Every listed file is loaded and reconciled."""
        return self.reconciled == self.expected

    @property
    def blocked(self) -> bool:
        """A listed file was rejected: this version can never be swapped in as delivered."""
        return self.rejected > 0


def _one_or_none(rows: list[dict[str, Any]]) -> PeriodVersion | None:
    return PeriodVersion(**rows[0]) if rows else None


def register_version(
    conn_or_dsn: ConnOrDsn,
    tenant: str,
    *,
    source_id: str,
    period: date,
    version: str,
    manifest_key: str,
    delivered_at: datetime,
    files: Sequence[str],
) -> PeriodVersion:
    """Record a version of (source, period) and return it as stored. Idempotent per version.

    In one transaction: older ``pending`` versions of the period become ``superseded``,
    and this version is ``superseded`` at once if a newer one is already known.
    """
    t = _t(tenant, "period_versions")
    insert = sql.SQL(
        "INSERT INTO {} (source_id, period, version, manifest_key, delivered_at, files) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (source_id, period, version) DO NOTHING"
    ).format(t)
    supersede = sql.SQL(
        "UPDATE {t} v SET state = 'superseded', updated_at = now() WHERE v.source_id = %s AND v.period = %s "
        "AND v.state = 'pending' AND EXISTS (SELECT 1 FROM {t} n WHERE n.source_id = v.source_id AND "
        "n.period = v.period AND n.state <> 'failed' AND (n.delivered_at, n.version) > (v.delivered_at, v.version))"
    ).format(t=t)
    select = sql.SQL("SELECT " + _COLS + " FROM {} WHERE source_id = %s AND period = %s AND version = %s").format(t)
    with connection(conn_or_dsn) as conn, conn.transaction():
        _all(conn, tenant, insert, [source_id, period, version, manifest_key, delivered_at, list(files)])
        _all(conn, tenant, supersede, [source_id, period])
        row = _one_or_none(_all(conn, tenant, select, [source_id, period, version]))
    assert row is not None
    return row


def get_version(
    conn_or_dsn: ConnOrDsn, tenant: str, source_id: str, period: date, version: str
) -> PeriodVersion | None:
    query = sql.SQL("SELECT " + _COLS + " FROM {} WHERE source_id = %s AND period = %s AND version = %s").format(
        _t(tenant, "period_versions")
    )
    with connection(conn_or_dsn) as conn:
        return _one_or_none(_all(conn, tenant, query, [source_id, period, version]))


def list_versions(
    conn_or_dsn: ConnOrDsn, tenant: str, *, source_id: str | None = None, period: date | None = None
) -> list[PeriodVersion]:
    """Versions, newest period first, then newest delivery first."""
    where = [sql.SQL("TRUE")]
    params: list[Any] = []
    if source_id is not None:
        where.append(sql.SQL("source_id = %s"))
        params.append(source_id)
    if period is not None:
        where.append(sql.SQL("period = %s"))
        params.append(period)
    query = sql.SQL(
        "SELECT " + _COLS + " FROM {} WHERE {} ORDER BY period DESC, delivered_at DESC, version DESC"
    ).format(_t(tenant, "period_versions"), sql.SQL(" AND ").join(where))
    with connection(conn_or_dsn) as conn:
        return [PeriodVersion(**r) for r in _all(conn, tenant, query, params)]


def version_progress(
    conn_or_dsn: ConnOrDsn, tenant: str, source_id: str, period: date, version: str
) -> VersionProgress | None:
    """How far the version's listed files got in the ledger (None: unknown version)."""
    pv = get_version(conn_or_dsn, tenant, source_id, period, version)
    if pv is None:
        return None
    query = sql.SQL(
        "SELECT state, count(DISTINCT object_key) AS n FROM {} WHERE source_id = %s AND period = %s "
        "AND period_version = %s AND object_key = ANY(%s) GROUP BY state"
    ).format(_t(tenant, "file_ledger"))
    with connection(conn_or_dsn) as conn:
        counts = {r["state"]: int(r["n"]) for r in _all(conn, tenant, query, [source_id, period, version, pv.files])}
    expected = len(set(pv.files))
    reconciled = counts.pop("reconciled", 0)
    rejected = counts.pop("rejected", 0)
    failed = counts.pop("failed", 0)
    return VersionProgress(expected, reconciled, rejected, failed, sum(counts.values()))


def begin_promotion(
    conn_or_dsn: ConnOrDsn, tenant: str, source_id: str, period: date, version: str, *, lease_s: int = 600
) -> PeriodVersion | None:
    """Claim the version for swapping in; None if it is not pending, someone holds the claim, it is not the
    newest version of its period, or another version of the period is being swapped in right now.

    A version that lost to a newer one is marked ``superseded`` on the way. Decisions for
    one (source, period) are serialised with a transaction-scoped advisory lock.
    """
    t = _t(tenant, "period_versions")
    newer = sql.SQL(
        "EXISTS (SELECT 1 FROM {t} n WHERE n.source_id = v.source_id AND n.period = v.period AND n.state <> 'failed' "
        "AND (n.delivered_at, n.version) > (v.delivered_at, v.version))"
    ).format(t=t)
    busy = sql.SQL(
        "EXISTS (SELECT 1 FROM {t} o WHERE o.source_id = v.source_id AND o.period = v.period AND "
        "o.version <> v.version AND o.state = 'promoting' AND o.updated_at >= now() - make_interval(secs => %s))"
    ).format(t=t)
    claim = sql.SQL(
        "UPDATE {t} v SET state = 'promoting', updated_at = now() WHERE v.source_id = %s AND v.period = %s AND "
        "v.version = %s AND (v.state = 'pending' OR (v.state = 'promoting' AND v.updated_at < now() - "
        "make_interval(secs => %s))) AND NOT {newer} AND NOT {busy} RETURNING " + _COLS
    ).format(t=t, newer=newer, busy=busy)
    lose = sql.SQL(
        "UPDATE {t} v SET state = 'superseded', updated_at = now() WHERE v.source_id = %s AND v.period = %s AND "
        "v.version = %s AND v.state IN ('pending', 'promoting') AND {newer}"
    ).format(t=t, newer=newer)
    lock = sql.SQL("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))")
    with connection(conn_or_dsn) as conn, conn.transaction():
        # One promotion decision at a time per (tenant, source, period).
        _all(conn, tenant, lock, [f"{tenant}/{source_id}/{period.isoformat()}"])
        got = _one_or_none(_all(conn, tenant, claim, [source_id, period, version, lease_s, lease_s]))
        if got is None:
            _all(conn, tenant, lose, [source_id, period, version])
    return got


def finish_promotion(
    conn_or_dsn: ConnOrDsn,
    tenant: str,
    source_id: str,
    period: date,
    version: str,
    *,
    rows_landed: int,
    landed_totals: Mapping[str, Decimal],
) -> str | None:
    """Mark the version live and the previous live one superseded (one transaction). Returns the replaced version."""
    t = _t(tenant, "period_versions")
    retire = sql.SQL(
        "UPDATE {} SET state = 'superseded', updated_at = now() WHERE source_id = %s AND period = %s "
        "AND state = 'live' AND version <> %s RETURNING version"
    ).format(t)
    live = sql.SQL(
        "UPDATE {} SET state = 'live', updated_at = now(), promoted_at = now(), rows_landed = %s, landed_totals = %s "
        "WHERE source_id = %s AND period = %s AND version = %s AND state IN ('promoting', 'live') RETURNING version"
    ).format(t)
    totals = Jsonb({k: str(v) for k, v in landed_totals.items()})
    with connection(conn_or_dsn) as conn, conn.transaction():
        old = _all(conn, tenant, retire, [source_id, period, version])
        done = _all(conn, tenant, live, [rows_landed, totals, source_id, period, version])
        if not done:
            raise ValueError(f"{source_id} {period} {version} is not being promoted")
    return str(old[0]["version"]) if old else None


def fail_promotion(
    conn_or_dsn: ConnOrDsn, tenant: str, source_id: str, period: date, version: str, *, error: str
) -> None:
    """Mark a version that cannot be swapped in (verification failed) as ``failed`` with the reason."""
    query = sql.SQL(
        "UPDATE {} SET state = 'failed', last_error = %s, updated_at = now() WHERE source_id = %s AND period = %s "
        "AND version = %s AND state IN ('pending', 'promoting')"
    ).format(_t(tenant, "period_versions"))
    with connection(conn_or_dsn) as conn:
        _all(conn, tenant, query, [error, source_id, period, version])


def promotable(conn_or_dsn: ConnOrDsn, tenant: str, *, lease_s: int = 600) -> list[PeriodVersion]:
    """Pending versions (or promotions whose lease expired) whose files are all reconciled: for the sweeper."""
    pv = _t(tenant, "period_versions")
    fl = _t(tenant, "file_ledger")
    query = sql.SQL(
        "SELECT " + ", ".join(f"v.{c.strip()}" for c in _COLS.split(",")) + " FROM {pv} v WHERE (v.state = 'pending' "
        "OR (v.state = 'promoting' AND v.updated_at < now() - make_interval(secs => %s))) AND "
        "(SELECT count(DISTINCT f.object_key) FROM {fl} f WHERE f.source_id = v.source_id AND f.period = v.period "
        "AND f.period_version = v.version AND f.state = 'reconciled' AND f.object_key = ANY(v.files)) "
        "= cardinality(ARRAY(SELECT DISTINCT unnest(v.files))) ORDER BY v.delivered_at"
    ).format(pv=pv, fl=fl)
    with connection(conn_or_dsn) as conn:
        return [PeriodVersion(**r) for r in _all(conn, tenant, query, [lease_s])]


def release_promotion(conn_or_dsn: ConnOrDsn, tenant: str, source_id: str, period: date, version: str) -> None:
    """Give a claimed promotion back (the swap failed for a reason worth retrying soon)."""
    query = sql.SQL(
        "UPDATE {} SET state = 'pending', updated_at = now() WHERE source_id = %s AND period = %s "
        "AND version = %s AND state = 'promoting'"
    ).format(_t(tenant, "period_versions"))
    with connection(conn_or_dsn) as conn:
        _all(conn, tenant, query, [source_id, period, version])
