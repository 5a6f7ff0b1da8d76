"""File-ledger use cases of one tenant: which billing files were seen, and what became of each.

Read-only, tenant-bound, blocking. States: seen -> parsing -> parsed -> loaded -> reconciled,
or rejected / failed (see :mod:`cloudops.sinks.postgres.ledger`).
"""

from __future__ import annotations

from typing import get_args

from cloudops.service.context import Caller, InvalidInput, NotFound, control_plane, require_tenant
from cloudops.sinks.postgres import ledger
from cloudops.sinks.postgres.ledger import LedgerEntry

__all__ = ["LedgerEntry", "get_file", "list_files"]

_STATES: tuple[str, ...] = get_args(ledger.State)


def list_files(
    caller: Caller, *, state: str | None = None, source_id: str | None = None, limit: int = 100
) -> list[LedgerEntry]:
    """The caller's ledger rows, most recently updated first (of one state, one source).

    Raises InvalidInput (unknown state, limit out of 1..10000), NotFound (no such tenant).
    """
    if state is not None and state not in _STATES:
        raise InvalidInput(f"unknown file state {state!r}: choose from {', '.join(_STATES)}")
    if not 1 <= limit <= 10_000:
        raise InvalidInput("limit must be between 1 and 10000")
    with control_plane(caller) as conn:
        require_tenant(conn, caller)
        # Filter by source after the read: the ledger query has no source filter, so read more.
        rows = ledger.list_files(conn, caller.tenant_id, state=state, limit=limit if source_id is None else 10_000)  # type: ignore[arg-type]
    if source_id is not None:
        rows = [r for r in rows if r.source_id == source_id][:limit]
    return rows


def get_file(caller: Caller, file_id: str) -> LedgerEntry:
    """One ledger row of the caller's tenant; NotFound otherwise."""
    with control_plane(caller) as conn:
        require_tenant(conn, caller)
        entry = ledger.get_file(conn, caller.tenant_id, file_id)
    if entry is None:
        raise NotFound(f"no file {file_id!r} for tenant {caller.tenant_id!r}")
    return entry
