"""Removing a file's rows from the FOCUS tables: what the loader does with an aborted file."""

from __future__ import annotations

from cloudops.sinks.clickhouse.client import ClickHouse, database_for

__all__ = ["delete_focus_file"]


async def delete_focus_file(ch: ClickHouse, tenant: str, file_id: str, *, pending: bool) -> None:
    """Remove every row of one file from ``focus`` (or ``focus_pending``, ``pending``). Idempotent.

    An aborted file's end record says some of its batches landed: they go, so a later
    successful parse of the file lands it exactly once.
    """
    table = f"{database_for(tenant)}.{'focus_pending' if pending else 'focus'}"
    await ch.run(
        lambda c: c.command(f"DELETE FROM {table} WHERE x_FileId = {{fid:String}}", parameters={"fid": file_id})
    )
