"""Numbered, reversible ClickHouse migrations, applied per tenant database.

Files are ``NNNN_name.up.sql`` / ``NNNN_name.down.sql`` in this folder; statements are
separated by ``;`` at line end; ``{db}`` and ``{dedup_window}`` are substituted.
Applied versions are recorded in ``<db>.schema_migrations``. Applying is idempotent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from cloudops.sinks.clickhouse.client import ClickHouse, database_for
from cloudops.sinks.clickhouse.cluster import for_cluster

__all__ = [
    "Migration",
    "all_migrations",
    "applied_versions",
    "applied_versions_active",
    "migrate",
    "pending",
    "statements",
]

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.up\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    up: str = field(repr=False)
    down: str = field(repr=False)


def _folder() -> Path:
    return Path(str(resources.files("cloudops.sinks.clickhouse") / "migrations"))


def all_migrations() -> list[Migration]:
    """Every packaged migration, in version order."""
    out: list[Migration] = []
    for path in sorted(_folder().glob("*.up.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise ValueError(f"bad migration file name {path.name}")
        down = path.with_name(path.name.replace(".up.sql", ".down.sql"))
        if not down.exists():
            raise ValueError(f"migration {path.name} has no down file")
        out.append(Migration(int(m.group(1)), m.group(2), path.read_text(), down.read_text()))
    return out


def _statements(sql: str, **params: object) -> list[str]:
    body = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [s.strip().format(**params) for s in re.split(r";\s*\n", body + "\n") if s.strip()]


def statements(m: Migration, *, db: str, dedup_window: int = 10_000, cluster: str | None = None) -> list[str]:
    """The up statements of ``m`` exactly as :func:`migrate` runs them (golden DDL tests)."""
    return [for_cluster(s, cluster) for s in _statements(m.up, db=db, dedup_window=dedup_window)]


def applied_versions(ch: ClickHouse, tenant: str) -> list[int]:
    """Versions applied to the tenant's database (empty if it does not exist yet)."""
    db = database_for(tenant)
    exists = ch.call(
        lambda c: c.query(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND name = 'schema_migrations'",
            parameters={"db": db},
        ).result_rows[0][0]
    )
    if not exists:
        return []
    return applied_versions_active(ch, db)


def pending(ch: ClickHouse, tenant: str) -> list[Migration]:
    """Migrations not yet applied to the tenant."""
    done = set(applied_versions(ch, tenant))
    return [m for m in all_migrations() if m.version not in done]


def migrate(
    ch: ClickHouse,
    tenant: str,
    *,
    target: int | None = None,
    dedup_window: int = 10_000,
    cluster: str | None = None,
) -> list[tuple[str, Migration]]:
    """Bring the tenant's database to ``target`` (default: latest). Returns the steps taken.

    Moving up applies missing migrations in order; a lower target reverts applied ones
    newest first. Idempotent: running it twice does nothing the second time. With ``cluster``
    every DDL statement runs ``ON CLUSTER`` with ``Replicated*`` engines (:mod:`.cluster`).
    """
    db = database_for(tenant)
    params = {"db": db, "dedup_window": dedup_window}
    ch.command(for_cluster(f"CREATE DATABASE IF NOT EXISTS {db}", cluster))
    ch.command(
        for_cluster(
            f"CREATE TABLE IF NOT EXISTS {db}.schema_migrations (version UInt32, name String, "
            "applied_at DateTime64(3, 'UTC') DEFAULT now64(3), is_applied UInt8) "
            "ENGINE = ReplacingMergeTree(applied_at) ORDER BY version",
            cluster,
        )
    )
    migrations = all_migrations()
    latest = migrations[-1].version if migrations else 0
    goal = latest if target is None else target
    done = set(applied_versions_active(ch, db))
    steps: list[tuple[str, Migration]] = []
    for m in migrations:
        if m.version <= goal and m.version not in done:
            for stmt in _statements(m.up, **params):
                ch.command(for_cluster(stmt, cluster))
            _record(ch, db, m, applied=True)
            steps.append(("up", m))
    for m in reversed(migrations):
        if m.version > goal and m.version in done:
            for stmt in _statements(m.down, **params):
                ch.command(for_cluster(stmt, cluster))
            _record(ch, db, m, applied=False)
            steps.append(("down", m))
    return steps


def _record(ch: ClickHouse, db: str, m: Migration, *, applied: bool) -> None:
    row = [[m.version, m.name, int(applied)]]
    cols = ["version", "name", "is_applied"]
    ch.call(lambda c: c.insert(f"{db}.schema_migrations", row, column_names=cols))


def applied_versions_active(ch: ClickHouse, db: str) -> list[int]:
    """Versions whose latest record says applied."""
    rows = ch.call(
        lambda c: c.query(f"SELECT version FROM {db}.schema_migrations FINAL WHERE is_applied = 1 ORDER BY version")
    )
    return [int(r[0]) for r in rows.result_rows]
