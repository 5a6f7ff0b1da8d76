"""ClickHouse beyond one node: golden DDL of every migration, plain and ON CLUSTER with Replicated engines.

Regenerate the golden files after adding a migration:
``CLOUDOPS_REGEN_GOLDEN=1 pytest tests/unit/sinks/test_clickhouse_cluster.py``, then review the diff.
"""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

import pytest

from cloudops.sinks.clickhouse.cluster import REPLICA_ARGS, for_cluster, shard_for
from cloudops.sinks.clickhouse.migrations import _statements, all_migrations, statements

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "clickhouse"


def _render(cluster: str | None) -> str:
    out = []
    for m in all_migrations():
        out.append(f"-- {m.version:04d}_{m.name}")
        out.extend(s + ";" for s in statements(m, db="tenant_acme", dedup_window=10000, cluster=cluster))
    return "\n\n".join(out) + "\n"


@pytest.mark.parametrize(("mode", "cluster"), [("plain", None), ("cluster", "cloudops")])
def test_golden_ddl(mode: str, cluster: str | None) -> None:
    path = GOLDEN / f"ddl_{mode}.sql"
    text = _render(cluster)
    if os.environ.get("CLOUDOPS_REGEN_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{path.name} differs: a migration changed (regenerate, then review the diff)"


def test_plain_mode_is_the_migration_files_unchanged() -> None:
    for m in all_migrations():
        for sql in (m.up, m.down):
            for stmt in _statements(sql, db="tenant_acme", dedup_window=10000):
                assert for_cluster(stmt, None) == stmt
                assert "ON CLUSTER" not in stmt
                assert "Replicated" not in stmt


def test_cluster_mode_places_every_ddl_and_replicates_every_table() -> None:
    for m in all_migrations():
        for sql in (m.up, m.down):
            for stmt in _statements(sql, db="tenant_acme", dedup_window=10000):
                out = for_cluster(stmt, "cloudops")
                if re.match(r"^(CREATE|DROP|ALTER|EXCHANGE|RENAME|TRUNCATE)\b", stmt):
                    assert "ON CLUSTER 'cloudops'" in out, stmt[:80]
                else:
                    assert out == stmt  # INSERT ... SELECT: replicated by the engine within the shard
                for engine in re.findall(r"ENGINE\s*=\s*(\w+)", out):
                    assert engine.startswith("Replicated"), (engine, stmt[:80])
                assert "non_replicated_deduplication_window" not in out


def test_every_replicated_table_gets_its_own_keeper_path() -> None:
    """Replays the cluster DDL the way ClickHouse stores Keeper paths: ``{database}`` and ``{table}`` are
    unfolded when a table is created, ``{uuid}`` stays a macro and is new per table (ClickHouse PRs
    #15348, #36200), ``CREATE TABLE t AS s`` copies ``s``'s stored engine, EXCHANGE swaps names. Two live
    tables on one path would fail with "Replica ... already exists"."""
    stored: dict[str, str] = {}  # table -> Keeper path as ClickHouse stores it
    resolved: dict[str, str] = {}  # table -> the path in Keeper
    uuids = itertools.count()
    for migration in all_migrations():
        for stmt in statements(migration, db="tenant_acme", dedup_window=10000, cluster="c"):
            if created := re.match(r"CREATE TABLE (?:IF NOT EXISTS )?(\S+) ON CLUSTER 'c'", stmt):
                name = created.group(1)
                engine = re.search(r"ENGINE = Replicated\w+\('([^']+)'", stmt)
                copied = re.match(rf"{re.escape(created.group(0))}\s+AS\s+(\S+)\s*$", stmt)
                template = engine.group(1) if engine else stored[copied.group(1)] if copied else None
                assert template, stmt[:120]
                db, table = name.split(".")
                stored[name] = template.replace("{database}", db).replace("{table}", table)
                resolved[name] = stored[name].replace("{uuid}", f"uuid-{next(uuids)}")
            elif swapped := re.match(r"EXCHANGE TABLES (\S+) AND (\S+) ON CLUSTER", stmt):
                a, b = swapped.groups()
                stored[a], stored[b] = stored[b], stored[a]
                resolved[a], resolved[b] = resolved[b], resolved[a]
            elif dropped := re.match(r"DROP TABLE (?:IF EXISTS )?(\S+) ON CLUSTER", stmt):
                stored.pop(dropped.group(1), None)
                resolved.pop(dropped.group(1), None)
    assert "tenant_acme.focus_pending" in resolved
    shared = {path for path in resolved.values() if list(resolved.values()).count(path) > 1}
    assert not shared, {t: p for t, p in resolved.items() if p in shared}


def test_engine_parameters_follow_the_replication_arguments() -> None:
    stmt = "CREATE TABLE db.t (v UInt8, at DateTime) ENGINE = ReplacingMergeTree(at) ORDER BY v"
    assert for_cluster(stmt, "c") == (
        "CREATE TABLE db.t ON CLUSTER 'c' (v UInt8, at DateTime) "
        f"ENGINE = ReplicatedReplacingMergeTree({REPLICA_ARGS}, at) ORDER BY v"
    )
    assert for_cluster("CREATE TABLE db.t (v UInt8) ENGINE = MergeTree() ORDER BY v", "c").endswith(
        f"ENGINE = ReplicatedMergeTree({REPLICA_ARGS}) ORDER BY v"
    )
    assert for_cluster("EXCHANGE TABLES db.a AND db.b", "c") == "EXCHANGE TABLES db.a AND db.b ON CLUSTER 'c'"
    assert for_cluster("ALTER TABLE db.t DROP PARTITION 1", "c") == "ALTER TABLE db.t ON CLUSTER 'c' DROP PARTITION 1"


def test_unknown_ddl_and_bad_cluster_names_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot place"):
        for_cluster("CREATE FUNCTION f AS (x) -> x", "c")
    with pytest.raises(ValueError, match="bad cluster"):
        for_cluster("DROP TABLE db.t", "c'; DROP DATABASE x; --")


def test_tenants_are_placed_on_shards_stably() -> None:
    shards = ["shard_1", "shard_2", "shard_3"]
    placed = {t: shard_for(t, shards) for t in (f"t{i}" for i in range(300))}
    assert set(placed.values()) == set(shards)
    assert min(list(placed.values()).count(s) for s in shards) > 60  # roughly even
    grown = {t: shard_for(t, [*shards, "shard_4"]) for t in placed}
    moved = [t for t in placed if grown[t] != placed[t]]
    assert all(grown[t] == "shard_4" for t in moved)  # a new shard only takes tenants, never reshuffles
    assert 40 < len(moved) < 120
