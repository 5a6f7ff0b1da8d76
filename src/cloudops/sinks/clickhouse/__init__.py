"""ClickHouse sink: one client API for chdb (embedded) and HTTP servers (production)."""

from cloudops.sinks.clickhouse.client import ClickHouse, connect, database_for
from cloudops.sinks.clickhouse.migrations import Migration, applied_versions, migrate, pending
from cloudops.sinks.clickhouse.query import FileLanded, file_landed
from cloudops.sinks.clickhouse.writer import insert_focus_batch

__all__ = [
    "ClickHouse",
    "FileLanded",
    "Migration",
    "applied_versions",
    "connect",
    "database_for",
    "file_landed",
    "insert_focus_batch",
    "migrate",
    "pending",
]
