"""ClickHouse sink: one client API for chdb (embedded) and HTTP servers (production)."""

from cloudops.sinks.clickhouse.client import ClickHouse, connect, database_for
from cloudops.sinks.clickhouse.migrations import Migration, applied_versions, migrate, pending
from cloudops.sinks.clickhouse.query import COST_DIMENSIONS, CostRow, FileLanded, cost_by, file_landed
from cloudops.sinks.clickhouse.writer import insert_focus_batch

__all__ = [
    "COST_DIMENSIONS",
    "ClickHouse",
    "CostRow",
    "FileLanded",
    "Migration",
    "applied_versions",
    "connect",
    "cost_by",
    "database_for",
    "file_landed",
    "insert_focus_batch",
    "migrate",
    "pending",
]
