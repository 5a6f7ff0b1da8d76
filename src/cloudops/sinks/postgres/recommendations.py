"""The recommendation lifecycle of a tenant: ``tenant_<id>.recommendations`` (migration 0005).

One row per recommendation fingerprint (tenant, kind, resource, proposed target; see
:func:`cloudops.schemas.recommendations.fingerprint_for`), holding the latest
Recommendation JSON as ``payload``. States::

    open -> pr_open -> merged
      |        |-----> dismissed | superseded | expired | open (PR closed unmerged)
      |-> dismissed | superseded | expired
    dismissed -> open        expired -> open        merged, superseded: final

At most one recommendation per (kind, resource) is active (``open`` or ``pr_open``; a
partial unique index enforces it). :meth:`RecommendationStore.upsert` is the recommender's
write: a fingerprint seen again updates its row (``last_seen``, ``times_seen``, payload,
savings), never a duplicate; a new fingerprint for an active (kind, resource) supersedes
the active row (returned, with its PR, so the PR bot can close it). An ``expired`` or
``superseded`` fingerprint found again is reopened; a ``dismissed`` or ``merged`` one keeps
its state (only its sighting is recorded).

Every state change (creation included) appends a tenant audit-log entry in the same
transaction (``recommendation.opened`` / ``recommendation.state``). Methods block the
calling thread (psycopg 3, synchronous; from async code use ``asyncio.to_thread``), take
per-(kind, resource) transaction-level advisory locks so concurrent writers serialise,
and raise :class:`~cloudops.errors.ConfigError` when the tenant's schema lacks the table,
:class:`~cloudops.errors.TransientError` when a DSN cannot be connected.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeAlias, get_args

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from cloudops.errors import ConfigError
from cloudops.schemas.recommendations import Recommendation, RecommendationState
from cloudops.settings import validate_tenant
from cloudops.sinks.postgres.audit import append_audit
from cloudops.sinks.postgres.client import ConnOrDsn, connection, schema_for

__all__ = [
    "ACTIVE_STATES",
    "ALLOWED_TRANSITIONS",
    "IllegalTransition",
    "RecommendationNotFound",
    "RecommendationStore",
    "StoredRecommendation",
    "UpsertResult",
]

STATES: tuple[str, ...] = get_args(RecommendationState)
ACTIVE_STATES: tuple[RecommendationState, ...] = ("open", "pr_open")
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"pr_open", "dismissed", "superseded", "expired"}),
    "pr_open": frozenset({"open", "merged", "dismissed", "superseded", "expired"}),
    "dismissed": frozenset({"open"}),
    "expired": frozenset({"open"}),
    "merged": frozenset(),
    "superseded": frozenset(),
}
_COLS = (
    "fingerprint, kind, resource_id, provider, resource_type, state, payload, monthly_savings, currency, period, "
    "first_seen, last_seen, times_seen, pr_number, pr_url, branch, state_changed_at, reason, superseded_by"
)


def _qualified() -> str:
    """The selected columns, each prefixed with the table placeholder (for UPDATE ... FROM ... RETURNING)."""
    return ", ".join(f"{{t}}.{c.strip()}" for c in _COLS.split(","))


class IllegalTransition(ValueError):
    """The state machine does not allow this move (or it would make two recommendations active)."""


class RecommendationNotFound(LookupError):
    """No recommendation has this fingerprint in the tenant's store."""


@dataclass(frozen=True, slots=True)
class StoredRecommendation:
    """One row of the lifecycle table, with its Recommendation parsed from ``payload``."""

    fingerprint: str
    kind: str
    resource_id: str
    provider: str
    resource_type: str | None
    state: RecommendationState
    recommendation: Recommendation
    monthly_savings: Decimal
    currency: str
    period: str
    first_seen: datetime
    last_seen: datetime
    times_seen: int
    pr_number: int | None
    pr_url: str | None
    branch: str | None
    state_changed_at: datetime
    reason: str | None
    superseded_by: str | None

    @classmethod
    def _from_row(cls, row: dict[str, Any]) -> StoredRecommendation:
        data = dict(row)
        data["recommendation"] = Recommendation.model_validate(data.pop("payload"))
        return cls(**data)


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What :meth:`RecommendationStore.upsert` did, by fingerprint."""

    inserted: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)  # seen again (any state but expired/superseded)
    reopened: list[str] = field(default_factory=list)  # expired or superseded, found again -> open
    superseded: list[StoredRecommendation] = field(default_factory=list)  # were active; close their PRs


# Aliases: inside the class, `list` names the method.
_Stored: TypeAlias = "list[StoredRecommendation]"
_Rows: TypeAlias = "list[dict[str, Any]]"
_Strs: TypeAlias = "list[str]"
_Params: TypeAlias = "list[Any]"


class RecommendationStore:
    """The lifecycle table of one tenant, over a connection (borrowed, never closed) or a DSN."""

    def __init__(self, conn_or_dsn: ConnOrDsn, tenant: str, *, actor: str = "recommend") -> None:
        self._conn = conn_or_dsn
        self.tenant = validate_tenant(tenant)
        self.actor = actor
        self._table = sql.Identifier(schema_for(tenant), "recommendations")

    # --- writes -------------------------------------------------------------------------------------------------

    def upsert(self, recommendations: Iterable[Recommendation]) -> UpsertResult:
        """Record a recommender run's findings, atomically (one transaction for the whole batch).

        Per recommendation: same fingerprint -> update (``last_seen``, ``times_seen + 1``,
        payload, savings, currency, period); an ``expired``/``superseded`` one is reopened.
        New fingerprint -> insert as ``open``. Either way, any *other* active recommendation
        of the same (kind, resource) becomes ``superseded`` (``superseded_by`` = the new
        fingerprint). Rows are never duplicated; repeating a call only bumps the sightings.
        Raises ValueError when a recommendation belongs to another tenant.
        """
        recs = list(recommendations)
        for rec in recs:
            if rec.tenant != self.tenant:
                raise ValueError(f"recommendation {rec.fingerprint} is for tenant {rec.tenant!r}, not {self.tenant!r}")
        # Lock order by (kind, resource) avoids deadlocks; a stable sort keeps the batch order within one key.
        recs.sort(key=lambda r: (r.kind, r.resource_id))
        result = UpsertResult()
        with self._session() as conn, conn.transaction():
            for rec in recs:
                self._upsert_one(conn, rec, result)
        return result

    def set_state(
        self,
        fingerprint: str,
        state: RecommendationState,
        *,
        reason: str | None = None,
        pr_number: int | None = None,
        pr_url: str | None = None,
        branch: str | None = None,
        actor: str | None = None,
    ) -> StoredRecommendation:
        """Move a recommendation to ``state`` along :data:`ALLOWED_TRANSITIONS`.

        Setting the current state again is an idempotent no-op that only fills the given
        PR fields and reason. ``pr_open`` needs a PR number, URL or branch (given now or
        already recorded). Moving back to ``open`` clears the PR fields. Raises
        :class:`RecommendationNotFound`, :class:`IllegalTransition` (a move the state
        machine forbids, or reopening while another recommendation of the same kind and
        resource is active), ValueError for an unknown state.
        """
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}: choose from {', '.join(STATES)}")
        try:
            with self._session() as conn, conn.transaction():
                key = self._rows(conn, "SELECT kind, resource_id FROM {t} WHERE fingerprint = %s", [fingerprint])
                if key:
                    self._lock_key(conn, key[0]["kind"], key[0]["resource_id"])
                current = self._lock_and_get(conn, fingerprint)
                if current is None:
                    raise RecommendationNotFound(f"no recommendation {fingerprint} for tenant {self.tenant}")
                if state == "pr_open" and not (
                    pr_number or pr_url or branch or current.pr_number or current.pr_url or current.branch
                ):
                    raise ValueError("pr_open needs a pr_number, pr_url or branch")
                if state == current.state:
                    row = self._one(
                        conn,
                        "UPDATE {t} SET pr_number = COALESCE(%s, pr_number), pr_url = COALESCE(%s, pr_url), "
                        "branch = COALESCE(%s, branch), reason = COALESCE(%s, reason) WHERE fingerprint = %s "
                        "RETURNING " + _COLS,
                        [pr_number, pr_url, branch, reason, fingerprint],
                    )
                    return StoredRecommendation._from_row(row)
                if state not in ALLOWED_TRANSITIONS[current.state]:
                    allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[current.state])) or "nothing (final state)"
                    raise IllegalTransition(
                        f"cannot move recommendation {fingerprint} from {current.state} to {state}: "
                        f"from {current.state} it may go to {allowed}"
                    )
                clear = state == "open"
                row = self._one(
                    conn,
                    "UPDATE {t} SET state = %s, state_changed_at = now(), reason = %s, "
                    "pr_number = CASE WHEN %s THEN NULL ELSE COALESCE(%s, pr_number) END, "
                    "pr_url = CASE WHEN %s THEN NULL ELSE COALESCE(%s, pr_url) END, "
                    "branch = CASE WHEN %s THEN NULL ELSE COALESCE(%s, branch) END "
                    "WHERE fingerprint = %s RETURNING " + _COLS,
                    [state, reason, clear, pr_number, clear, pr_url, clear, branch, fingerprint],
                )
                stored = StoredRecommendation._from_row(row)
                self._audit(conn, stored, current.state, actor)
                return stored
        except psycopg.errors.UniqueViolation:
            raise IllegalTransition(
                f"cannot reopen recommendation {fingerprint}: another recommendation of the same kind and resource "
                "is active"
            ) from None

    def expire_unseen(self, older_than: datetime | timedelta) -> _Stored:
        """Expire active recommendations last seen before ``older_than`` (a time, or an age before now()).

        Returns the expired rows (those that were ``pr_open`` carry their PR, to close).
        Idempotent: expired rows are not active, so a second call expires nothing more.
        Raises ValueError for a naive datetime.
        """
        if isinstance(older_than, datetime) and older_than.tzinfo is None:
            raise ValueError("older_than must be an aware datetime (or a timedelta)")
        cutoff = sql.SQL("%s") if isinstance(older_than, datetime) else sql.SQL("now() - %s")
        query = sql.SQL(
            "WITH gone AS (SELECT fingerprint, state AS old_state FROM {t} WHERE state IN ('open', 'pr_open') "
            "AND last_seen < {cutoff} ORDER BY kind, resource_id FOR UPDATE) "
            "UPDATE {t} SET state = 'expired', state_changed_at = now(), "
            "reason = 'not seen since ' || to_char(last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
            "FROM gone WHERE {t}.fingerprint = gone.fingerprint RETURNING gone.old_state, " + _qualified()
        ).format(t=self._table, cutoff=cutoff)
        out: list[StoredRecommendation] = []
        with self._session() as conn, conn.transaction():
            for row in self._rows(conn, query, [older_than]):
                old = row.pop("old_state")
                stored = StoredRecommendation._from_row(row)
                self._audit(conn, stored, old, None)
                out.append(stored)
        return sorted(out, key=lambda s: (s.kind, s.resource_id))

    # --- reads --------------------------------------------------------------------------------------------------

    def get(self, fingerprint: str) -> StoredRecommendation | None:
        """The recommendation with this fingerprint, or None."""
        with self._session() as conn, conn.transaction():
            rows = self._rows(conn, "SELECT " + _COLS + " FROM {t} WHERE fingerprint = %s", [fingerprint])
        return StoredRecommendation._from_row(rows[0]) if rows else None

    def list(
        self,
        state: RecommendationState | Sequence[RecommendationState] | None = None,
        *,
        kind: str | None = None,
        limit: int = 1000,
    ) -> _Stored:
        """Recommendations (of one or several states, one kind), largest monthly savings first."""
        states = [state] if isinstance(state, str) else list(state) if state is not None else None
        for s in states or ():
            if s not in STATES:
                raise ValueError(f"unknown state {s!r}: choose from {', '.join(STATES)}")
        where: _Strs = []
        params: _Params = []
        if states is not None:
            where.append("state = ANY(%s)")
            params.append(states)
        if kind is not None:
            where.append("kind = %s")
            params.append(kind)
        text = "SELECT " + _COLS + " FROM {t}"
        if where:
            text += " WHERE " + " AND ".join(where)
        text += " ORDER BY monthly_savings DESC, fingerprint LIMIT %s"
        with self._session() as conn, conn.transaction():
            rows = self._rows(conn, text, [*params, limit])
        return [StoredRecommendation._from_row(r) for r in rows]

    # --- internals ----------------------------------------------------------------------------------------------

    def _session(self) -> Any:
        return connection(self._conn)

    def _upsert_one(self, conn: psycopg.Connection[Any], rec: Recommendation, result: UpsertResult) -> None:
        fp = rec.fingerprint
        self._lock_key(conn, rec.kind, rec.resource_id)
        current = self._lock_and_get(conn, fp)
        payload = Jsonb(rec.model_dump(mode="json"))
        values = [payload, rec.monthly_savings, rec.currency, rec.period, rec.provider, rec.resource_type]
        if current is not None and current.state not in ("expired", "superseded"):
            self._one(
                conn,
                "UPDATE {t} SET payload = %s, monthly_savings = %s, currency = %s, period = %s, provider = %s, "
                "resource_type = %s, last_seen = now(), times_seen = times_seen + 1 WHERE fingerprint = %s "
                "RETURNING fingerprint",
                [*values, fp],
            )
            result.updated.append(fp)
            return
        self._supersede(conn, rec, result)
        if current is None:
            row = self._one(
                conn,
                "INSERT INTO {t} (fingerprint, kind, resource_id, payload, monthly_savings, currency, period, "
                "provider, resource_type, reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'found') "
                "RETURNING " + _COLS,
                [fp, rec.kind, rec.resource_id, *values],
            )
            result.inserted.append(fp)
            self._audit(conn, StoredRecommendation._from_row(row), None, None)
            return
        row = self._one(
            conn,
            "UPDATE {t} SET payload = %s, monthly_savings = %s, currency = %s, period = %s, provider = %s, "
            "resource_type = %s, last_seen = now(), times_seen = times_seen + 1, state = 'open', "
            "state_changed_at = now(), reason = 'found again', superseded_by = NULL, pr_number = NULL, "
            "pr_url = NULL, branch = NULL WHERE fingerprint = %s RETURNING " + _COLS,
            [*values, fp],
        )
        result.reopened.append(fp)
        self._audit(conn, StoredRecommendation._from_row(row), current.state, None)

    def _supersede(self, conn: psycopg.Connection[Any], rec: Recommendation, result: UpsertResult) -> None:
        fp = rec.fingerprint
        rows = self._rows(
            conn,
            "WITH old AS (SELECT fingerprint, state AS old_state FROM {t} WHERE kind = %s AND resource_id = %s "
            "AND state IN ('open', 'pr_open') AND fingerprint <> %s FOR UPDATE) "
            "UPDATE {t} SET state = 'superseded', superseded_by = %s, reason = %s, state_changed_at = now() "
            "FROM old WHERE {t}.fingerprint = old.fingerprint RETURNING old.old_state, " + _qualified(),
            [rec.kind, rec.resource_id, fp, fp, f"superseded by {fp}"],
        )
        for row in rows:
            old = row.pop("old_state")
            stored = StoredRecommendation._from_row(row)
            self._audit(conn, stored, old, None)
            result.superseded.append(stored)

    def _lock_key(self, conn: psycopg.Connection[Any], kind: str, resource_id: str) -> None:
        """Serialise writers of one (kind, resource) until the transaction ends (taken before any row lock)."""
        self._rows(
            conn,
            "SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))",
            [schema_for(self.tenant), f"{kind}\x1f{resource_id}"],
        )

    def _lock_and_get(self, conn: psycopg.Connection[Any], fingerprint: str) -> StoredRecommendation | None:
        rows = self._rows(conn, "SELECT " + _COLS + " FROM {t} WHERE fingerprint = %s FOR UPDATE", [fingerprint])
        return StoredRecommendation._from_row(rows[0]) if rows else None

    def _audit(
        self, conn: psycopg.Connection[Any], stored: StoredRecommendation, old: str | None, actor: str | None
    ) -> None:
        detail: dict[str, Any] = {
            "fingerprint": stored.fingerprint,
            "kind": stored.kind,
            "resource_id": stored.resource_id,
            "from": old,
            "to": stored.state,
            "reason": stored.reason,
            "monthly_savings": str(stored.monthly_savings),
            "currency": stored.currency,
        }
        if stored.pr_number is not None or stored.pr_url or stored.branch:
            detail.update(pr_number=stored.pr_number, pr_url=stored.pr_url, branch=stored.branch)
        if stored.superseded_by:
            detail["superseded_by"] = stored.superseded_by
        action = "recommendation.opened" if old is None else "recommendation.state"
        append_audit(conn, self.tenant, actor=actor or self.actor, action=action, detail=detail)

    def _rows(self, conn: psycopg.Connection[Any], query: str | sql.Composed, params: Sequence[Any]) -> _Rows:
        composed = sql.SQL(query).format(t=self._table) if isinstance(query, str) else query  # type: ignore[arg-type]
        try:
            with conn.cursor(row_factory=dict_row) as cur:
                cur.execute(composed, params)
                return list(cur.fetchall()) if cur.description else []
        except psycopg.errors.UndefinedTable as exc:
            raise ConfigError(
                f"{schema_for(self.tenant)}.recommendations does not exist: run `cloudops migrate --tenant "
                f"{self.tenant}` first"
            ) from exc

    def _one(self, conn: psycopg.Connection[Any], query: str, params: Sequence[Any]) -> dict[str, Any]:
        rows = self._rows(conn, query, params)
        if len(rows) != 1:
            raise AssertionError(f"expected one row, got {len(rows)}")
        return rows[0]
