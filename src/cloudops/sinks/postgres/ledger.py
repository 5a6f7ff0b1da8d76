"""Billing sources and the file ledger of a tenant (schema ``tenant_<id>``, migration 0003).

The ledger has one row per object version, keyed by (source, object key, version or
ETag). Whichever trigger sees a file first records it; later sightings only add their
trigger name. A worker may parse a file only after :func:`claim` moved it to
``parsing``; a second delivery finds it claimed (or done) and skips it, so a file is
parsed once in effect. States::

    seen -> parsing -> parsed -> loaded -> reconciled     (a manifest: parsing -> reconciled)
                  \\-> rejected (bad data)   any of parsing/parsed/loaded -> failed (may be claimed again)

Functions take a connection or a DSN (see :mod:`cloudops.sinks.postgres.client`) and
block the calling thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from cloudops.errors import ConfigError
from cloudops.schemas.events import ColumnWarning
from cloudops.schemas.money import decimal_text
from cloudops.sinks.postgres.client import ConnOrDsn, connection, schema_for
from cloudops.sinks.postgres.tenants import register_tenant

__all__ = [
    "LedgerEntry",
    "Source",
    "State",
    "add_source",
    "advance",
    "claim",
    "get_file",
    "list_files",
    "list_sources",
    "record_seen",
    "reopen",
    "source_for_object",
    "stale_claims",
    "touch",
    "touch_loading",
]

State = Literal["seen", "parsing", "parsed", "loaded", "reconciled", "rejected", "failed"]
_NEXT: dict[str, set[str]] = {
    # A manifest lands no rows: it is reconciled once the files it lists are announced.
    # The loader may count a file in before the parser recorded `parsed` (parsing -> loaded).
    "parsing": {"parsed", "rejected", "failed", "reconciled", "loaded"},
    "parsed": {"loaded", "failed"},
    "loaded": {"reconciled", "failed"},
}


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    provider: str
    bucket: str
    prefix: str
    credentials_ref: str | None
    schedule_s: int | None
    enabled: bool
    layout: str = "files"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    source_id: str
    object_key: str
    version: str
    file_id: str
    url: str
    state: State
    triggers: list[str]
    attempts: int
    rows_in: int | None
    rows_landed: int | None
    rows_rejected: int | None
    source_totals: dict[str, str] | None
    landed_totals: dict[str, str] | None
    last_error: str | None
    first_seen_at: datetime
    updated_at: datetime
    period: date | None = None
    period_version: str | None = None
    warnings: list[dict[str, Any]] | None = None  # data-quality warnings of the parse (migration 0007)


_SOURCE_COLS = "id, provider, bucket, prefix, credentials_ref, schedule_s, enabled, layout"


def _t(tenant: str, table: str) -> sql.Identifier:
    return sql.Identifier(schema_for(tenant), table)


def add_source(
    conn_or_dsn: ConnOrDsn,
    tenant: str,
    *,
    id: str,
    provider: str,
    bucket: str,
    prefix: str = "",
    credentials_ref: str | None = None,
    schedule_s: int | None = None,
    layout: str = "files",
) -> Source:
    """Create or update a source (idempotent by id). Blocks; ConfigError if the schema is not migrated.

    ``layout``: ``files`` (every object is new data), ``manifest`` (provider manifests
    define versions of billing periods; data files are loaded only through a manifest) or
    ``snapshot`` (every object is its whole billing period so far, e.g. Azure month-to-date
    exports: the newest copy of a period replaces the previous one).
    The tenant is registered too (the schedule and the recovery timers visit registered tenants only).
    """
    query = sql.SQL(
        "INSERT INTO {} (id, provider, bucket, prefix, credentials_ref, schedule_s, layout) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (id) DO UPDATE SET provider = EXCLUDED.provider, bucket = EXCLUDED.bucket, "
        "prefix = EXCLUDED.prefix, credentials_ref = EXCLUDED.credentials_ref, schedule_s = EXCLUDED.schedule_s, "
        "layout = EXCLUDED.layout RETURNING " + _SOURCE_COLS
    ).format(_t(tenant, "sources"))
    with connection(conn_or_dsn) as conn:
        register_tenant(conn, tenant)
        row = _one(conn, tenant, query, [id, provider, bucket, prefix, credentials_ref, schedule_s, layout])
    return Source(**row)


def list_sources(conn_or_dsn: ConnOrDsn, tenant: str) -> list[Source]:
    """Every source of the tenant, by id."""
    query = sql.SQL("SELECT " + _SOURCE_COLS + " FROM {} ORDER BY id").format(_t(tenant, "sources"))
    with connection(conn_or_dsn) as conn:
        return [Source(**r) for r in _all(conn, tenant, query, [])]


def source_for_object(conn_or_dsn: ConnOrDsn, tenant: str, bucket: str, key: str) -> Source | None:
    """The enabled source whose bucket matches and whose prefix is the longest prefix of ``key``."""
    query = sql.SQL(
        "SELECT " + _SOURCE_COLS + " FROM {} "
        "WHERE enabled AND bucket = %s AND starts_with(%s, prefix) ORDER BY length(prefix) DESC LIMIT 1"
    ).format(_t(tenant, "sources"))
    with connection(conn_or_dsn) as conn:
        rows = _all(conn, tenant, query, [bucket, key])
    return Source(**rows[0]) if rows else None


_ENTRY_COLS = (
    "source_id, object_key, version, file_id, url, state, triggers, attempts, rows_in, rows_landed, "
    "rows_rejected, source_totals, landed_totals, last_error, first_seen_at, updated_at, period, period_version, "
    "warnings"
)


def record_seen(
    conn_or_dsn: ConnOrDsn,
    tenant: str,
    *,
    source_id: str,
    object_key: str,
    version: str,
    file_id: str,
    url: str,
    trigger: str,
    period: date | None = None,
    period_version: str | None = None,
    event: Mapping[str, Any] | None = None,
) -> tuple[LedgerEntry, bool]:
    """Record that ``trigger`` saw this object version. Returns (entry, first time seen).

    Idempotent: the same version seen again (any trigger) keeps one row; only the
    trigger is added to its ``triggers``.
    """
    query = sql.SQL(
        "INSERT INTO {t} (source_id, object_key, version, file_id, url, period, period_version, event, triggers) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, ARRAY[%s]) ON CONFLICT (source_id, object_key, version) "
        "DO UPDATE SET triggers = CASE WHEN %s = ANY({t}.triggers) THEN {t}.triggers "
        "ELSE array_append({t}.triggers, %s::text) END "
        "RETURNING " + _ENTRY_COLS + ", (xmax = 0) AS inserted"
    ).format(t=_t(tenant, "file_ledger"))
    with connection(conn_or_dsn) as conn:
        params = [
            source_id,
            object_key,
            version,
            file_id,
            url,
            period,
            period_version,
            Jsonb(dict(event)) if event is not None else None,
            trigger,
            trigger,
            trigger,
        ]
        row = _one(conn, tenant, query, params)
    inserted = bool(row.pop("inserted"))
    return LedgerEntry(**row), inserted


def claim(
    conn_or_dsn: ConnOrDsn,
    tenant: str,
    file_id: str,
    *,
    lease_s: float = 900,
    reparse_after_s: float | None = None,
) -> LedgerEntry | None:
    """Atomically move a file to ``parsing`` if nobody else may be parsing it; None otherwise.

    Claimable: ``seen``, ``failed``, or ``parsing`` whose claim is older than ``lease_s``
    (the worker died), or ``parsed`` for longer than ``reparse_after_s`` (its batches never
    finished loading: e.g. the broker lost messages it had acknowledged; parsing again
    re-sends them and ClickHouse drops the ones it has). Each claim counts one attempt. A file already parsed, loaded,
    reconciled or rejected is never claimed again (delete its row to force a re-parse).
    """
    query = sql.SQL(
        "UPDATE {} SET state = 'parsing', attempts = attempts + 1, updated_at = now() WHERE file_id = %s AND "
        "(state IN ('seen', 'failed') OR (state = 'parsing' AND updated_at < now() - make_interval(secs => %s)) "
        "OR (state = 'parsed' AND %s::float8 IS NOT NULL AND updated_at < now() - make_interval(secs => %s))) "
        "RETURNING " + _ENTRY_COLS
    ).format(_t(tenant, "file_ledger"))
    with connection(conn_or_dsn) as conn:
        rows = _all(conn, tenant, query, [file_id, lease_s, reparse_after_s, reparse_after_s or 0])
    return LedgerEntry(**rows[0]) if rows else None


def advance(
    conn_or_dsn: ConnOrDsn,
    tenant: str,
    file_id: str,
    state: State,
    *,
    rows_in: int | None = None,
    rows_landed: int | None = None,
    rows_rejected: int | None = None,
    source_totals: Mapping[str, Decimal] | None = None,
    landed_totals: Mapping[str, Decimal] | None = None,
    error: str | None = None,
    attempt: int | None = None,
    warnings: Sequence[ColumnWarning] | None = None,
) -> LedgerEntry:
    """Move a file to ``state`` (only along the allowed transitions), recording counts and totals.

    With ``attempt`` (the ``attempts`` count :func:`claim` returned) the row moves only if that
    claim is still the latest: a worker whose file was taken over does not move it. Raises
    ValueError for a transition the state machine does not allow (e.g. loaded -> parsing), a
    claim that is no longer current, or an unknown file. Money is stored as decimal strings;
    ``warnings`` (the parse's data-quality warnings per FOCUS column) as a JSON array.
    """
    allowed = [s for s, nxt in _NEXT.items() if state in nxt]
    if not allowed:
        raise ValueError(f"no transition leads to {state!r}")

    def money(v: Mapping[str, Decimal] | None) -> Jsonb | None:
        return None if v is None else Jsonb({k: decimal_text(x) for k, x in v.items()})

    notes = None if warnings is None else Jsonb([w.model_dump(mode="json") for w in warnings])
    query = sql.SQL(
        "UPDATE {} SET state = %s, updated_at = now(), rows_in = COALESCE(%s, rows_in), "
        "rows_landed = COALESCE(%s, rows_landed), rows_rejected = COALESCE(%s, rows_rejected), "
        "source_totals = COALESCE(%s, source_totals), landed_totals = COALESCE(%s, landed_totals), "
        "last_error = COALESCE(%s, last_error), warnings = COALESCE(%s, warnings) "
        "WHERE file_id = %s AND state = ANY(%s) "
        "AND (%s::int IS NULL OR attempts = %s) RETURNING " + _ENTRY_COLS
    ).format(_t(tenant, "file_ledger"))
    params = [
        state,
        rows_in,
        rows_landed,
        rows_rejected,
        money(source_totals),
        money(landed_totals),
        error,
        notes,
        file_id,
        allowed,
        attempt,
        attempt,
    ]
    with connection(conn_or_dsn) as conn:
        rows = _all(conn, tenant, query, params)
        if not rows and state == "parsed":
            # The loader got there first (loaded/reconciled): keep its state, record the parse counts.
            counts = sql.SQL(
                "UPDATE {} SET rows_in = COALESCE(%s, rows_in), rows_rejected = COALESCE(%s, rows_rejected), "
                "source_totals = COALESCE(%s, source_totals), warnings = COALESCE(%s, warnings), "
                "updated_at = now() WHERE file_id = %s "
                "AND state IN ('loaded', 'reconciled') AND (%s::int IS NULL OR attempts = %s) RETURNING " + _ENTRY_COLS
            ).format(_t(tenant, "file_ledger"))
            params = [rows_in, rows_rejected, money(source_totals), notes, file_id, attempt, attempt]
            rows = _all(conn, tenant, counts, params)
        if not rows:
            current = get_file(conn, tenant, file_id)
            where = "unknown file" if current is None else f"file is {current.state}"
            if current is not None and attempt is not None and current.attempts != attempt:
                where += f" (claim {attempt} superseded by claim {current.attempts})"
            raise ValueError(f"cannot move {file_id} to {state}: {where}")
    return LedgerEntry(**rows[0])


def stale_claims(
    conn_or_dsn: ConnOrDsn,
    tenant: str,
    *,
    older_than_s: float,
    unclaimed_older_than_s: float | None = None,
    parsed_older_than_s: float | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Announcements of files whose claim lapsed (``parsing`` untouched for ``older_than_s``), that
    were never claimed (``seen`` for ``unclaimed_older_than_s``, default ``older_than_s``), or (with
    ``parsed_older_than_s``) that were parsed that long ago and never loaded.

    Their worker vanished (killed, or shut down mid-file after its message was acknowledged),
    or their announcement is stuck, so nobody will finish them unless another worker takes
    them over. Blocks.
    """
    query = sql.SQL(
        "SELECT event FROM {} WHERE event IS NOT NULL AND ("
        "(state = 'parsing' AND updated_at < now() - make_interval(secs => %s)) "
        "OR (state = 'seen' AND updated_at < now() - make_interval(secs => %s)) "
        "OR (state = 'parsed' AND %s::float8 IS NOT NULL AND updated_at < now() - make_interval(secs => %s))"
        ") ORDER BY updated_at LIMIT %s"
    ).format(_t(tenant, "file_ledger"))
    unclaimed = older_than_s if unclaimed_older_than_s is None else unclaimed_older_than_s
    params = [older_than_s, unclaimed, parsed_older_than_s, parsed_older_than_s or 0, limit]
    with connection(conn_or_dsn) as conn:
        return [dict(r["event"]) for r in _all(conn, tenant, query, params)]


def _touch(conn_or_dsn: ConnOrDsn, tenant: str, file_id: str, state: State, attempt: int | None = None) -> bool:
    """Bump ``updated_at`` of a file in ``state`` (and of claim ``attempt``, when given). True if touched."""
    query = sql.SQL(
        "UPDATE {} SET updated_at = now() WHERE file_id = %s AND state = %s "
        "AND (%s::int IS NULL OR attempts = %s) RETURNING file_id"
    ).format(_t(tenant, "file_ledger"))
    with connection(conn_or_dsn) as conn:
        return bool(_all(conn, tenant, query, [file_id, state, attempt, attempt]))


def touch(conn_or_dsn: ConnOrDsn, tenant: str, file_id: str, *, attempt: int | None = None) -> bool:
    """Renew a parse claim (heartbeat): True while the file is still ``parsing`` (by claim ``attempt``,
    when given: the ``attempts`` count its :func:`claim` returned). False: the claim is gone (another
    worker took the file over, or it moved on). Blocks.
    """
    return _touch(conn_or_dsn, tenant, file_id, "parsing", attempt)


def touch_loading(conn_or_dsn: ConnOrDsn, tenant: str, file_id: str) -> bool:
    """The loader's heartbeat for a ``parsed`` file whose batches it is inserting: a file still
    loading is not mistaken for one whose batches were lost (``reparse_after_s``). True if touched.
    Blocks."""
    return _touch(conn_or_dsn, tenant, file_id, "parsed")


def reopen(conn_or_dsn: ConnOrDsn, tenant: str, file_id: str) -> bool:
    """Make a rejected or failed file claimable again (a dead letter is being replayed). True if reopened.

    Blocks. A file that is not rejected/failed (or has no ledger row) is left as it is.
    """
    query = sql.SQL(
        "UPDATE {} SET state = 'seen', updated_at = now() WHERE file_id = %s AND state IN ('rejected', 'failed') "
        "RETURNING file_id"
    ).format(_t(tenant, "file_ledger"))
    with connection(conn_or_dsn) as conn:
        return bool(_all(conn, tenant, query, [file_id]))


def get_file(conn_or_dsn: ConnOrDsn, tenant: str, file_id: str) -> LedgerEntry | None:
    query = sql.SQL("SELECT " + _ENTRY_COLS + " FROM {} WHERE file_id = %s").format(_t(tenant, "file_ledger"))
    with connection(conn_or_dsn) as conn:
        rows = _all(conn, tenant, query, [file_id])
    return LedgerEntry(**rows[0]) if rows else None


def list_files(
    conn_or_dsn: ConnOrDsn, tenant: str, *, state: State | None = None, limit: int = 100
) -> list[LedgerEntry]:
    """Ledger rows, most recently updated first (optionally of one state)."""
    where = sql.SQL("WHERE state = %s") if state else sql.SQL("")
    query = sql.SQL("SELECT " + _ENTRY_COLS + " FROM {} {} ORDER BY updated_at DESC LIMIT %s").format(
        _t(tenant, "file_ledger"), where
    )
    with connection(conn_or_dsn) as conn:
        return [LedgerEntry(**r) for r in _all(conn, tenant, query, [*([state] if state else []), limit])]


def _all(conn: Any, tenant: str, query: sql.Composable, params: list[Any]) -> list[dict[str, Any]]:
    import psycopg

    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, params)
            return list(cur.fetchall()) if cur.description else []
    except psycopg.errors.UndefinedTable as exc:
        raise ConfigError(
            f"{schema_for(tenant)} has no ledger tables: run `cloudops migrate --tenant {tenant}`"
        ) from exc


def _one(conn: Any, tenant: str, query: sql.Composable, params: list[Any]) -> dict[str, Any]:
    rows = _all(conn, tenant, query, params)
    assert len(rows) == 1
    return rows[0]
