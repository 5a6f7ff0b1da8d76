"""Billing-period use cases of one tenant: every version of every period (restatements).

Read-only, tenant-bound, blocking. A version is pending (loading), promoting, live (the one
queries see), superseded or failed (see :mod:`cloudops.sinks.postgres.periods`).
"""

from __future__ import annotations

from datetime import date

from cloudops.service.context import Caller, control_plane, require_tenant
from cloudops.sinks.postgres import periods
from cloudops.sinks.postgres.periods import PeriodVersion

__all__ = ["PeriodVersion", "list_periods"]


def list_periods(caller: Caller, *, source_id: str | None = None, period: date | None = None) -> list[PeriodVersion]:
    """Every version of the caller's billing periods (of one source, one month). Raises NotFound (no tenant)."""
    with control_plane(caller) as conn:
        require_tenant(conn, caller)
        return periods.list_versions(conn, caller.tenant_id, source_id=source_id, period=period)
