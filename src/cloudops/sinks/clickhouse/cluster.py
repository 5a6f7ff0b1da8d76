"""ClickHouse beyond one node: the migrations' DDL for a cluster (``CLOUDOPS_CLICKHOUSE__CLUSTER``).

With a cluster name, every DDL statement of a migration runs ``ON CLUSTER`` and every MergeTree-family
engine becomes its ``Replicated*`` twin, with the usual Keeper path and replica macros
(``/clickhouse/tables/{shard}/{database}/{table}``, ``{replica}``: defined in each server's
``<macros>``). Without one, the DDL is left exactly as written: that is what a single server and
ClickHouse Cloud take (Cloud turns MergeTree into SharedMergeTree itself and needs no ON CLUSTER).
ClickHouse writes ``{database}`` and ``{table}`` out when it creates a table, so EXCHANGE and RENAME
keep each table on its own Keeper path; a migration's ``CREATE TABLE t AS s`` must therefore name its
own engine (it would otherwise copy ``s``'s path: "Replica ... already exists");
``tests/unit/sinks/test_clickhouse_cluster.py`` replays the cluster DDL to check every table's path.

Insert deduplication carries over: a plain MergeTree remembers the last
``non_replicated_deduplication_window`` insert blocks (set from ``CLOUDOPS_CLICKHOUSE__DEDUP_WINDOW``);
a Replicated table keeps its block hashes in Keeper, and the same setting becomes
``replicated_deduplication_window`` (blocks; ClickHouse also keeps them at most
``replicated_deduplication_window_seconds``, 7 days by default). The loader's
``insert_deduplication_token`` (the batch id) is the block's identity in both, so a redelivered batch
is dropped on any replica of the shard; the materialised views inherit it
(``deduplicate_blocks_in_dependent_materialized_views``).

Placing tenants on shards: a tenant's database lives on the cluster its migrations ran on. Name one
cluster per shard in the servers' ``remote_servers`` (each a single shard with its replicas) and run
``cloudops migrate --tenant T`` with ``CLOUDOPS_CLICKHOUSE__CLUSTER`` set to the shard chosen for T
(:func:`shard_for` picks one stably from a list) and ``CLOUDOPS_CLICKHOUSE__DSN`` pointing at a node
of that shard.

Contract: :func:`for_cluster` is pure text rewriting of one already-formatted statement; it raises
``ValueError`` for a DDL statement it does not know how to place on a cluster, so a new kind of
migration statement cannot silently run on one node only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

__all__ = ["REPLICA_ARGS", "for_cluster", "shard_for"]

REPLICA_ARGS = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"

_IDENT = r"(?:`[^`]+`|[A-Za-z_][A-Za-z0-9_]*)(?:\.(?:`[^`]+`|[A-Za-z_][A-Za-z0-9_]*))?"
# (statement head up to and including the object name) for each DDL form the migrations use.
_HEADS = [
    re.compile(rf"^(CREATE\s+DATABASE\s+(?:IF\s+NOT\s+EXISTS\s+)?{_IDENT})", re.I),
    re.compile(rf"^(CREATE\s+(?:OR\s+REPLACE\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{_IDENT})", re.I),
    re.compile(rf"^(CREATE\s+MATERIALIZED\s+VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?{_IDENT})", re.I),
    re.compile(rf"^(CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?{_IDENT})", re.I),
    re.compile(rf"^(DROP\s+(?:TABLE|VIEW|DATABASE|DICTIONARY)\s+(?:IF\s+EXISTS\s+)?{_IDENT})", re.I),
    re.compile(rf"^(ALTER\s+TABLE\s+{_IDENT})", re.I),
    re.compile(rf"^(EXCHANGE\s+TABLES\s+{_IDENT}\s+AND\s+{_IDENT})", re.I),
    re.compile(rf"^(RENAME\s+TABLE\s+{_IDENT}\s+TO\s+{_IDENT}(?:\s*,\s*{_IDENT}\s+TO\s+{_IDENT})*)", re.I),
    re.compile(rf"^(TRUNCATE\s+TABLE\s+(?:IF\s+EXISTS\s+)?{_IDENT})", re.I),
]
_DDL = re.compile(r"^(CREATE|DROP|ALTER|EXCHANGE|RENAME|TRUNCATE)\b", re.I)
_ENGINE = re.compile(r"\bENGINE\s*=\s*(MergeTree|SummingMergeTree|ReplacingMergeTree|AggregatingMergeTree)\b(\s*\()?")


def _engine(m: re.Match[str]) -> str:
    name, paren = m.group(1), m.group(2)
    if paren:  # engine parameters follow: put the replication arguments first
        return f"ENGINE = Replicated{name}({REPLICA_ARGS}, "
    return f"ENGINE = Replicated{name}({REPLICA_ARGS})"


def for_cluster(statement: str, cluster: str | None) -> str:
    """``statement`` as it must run on ``cluster`` (unchanged when ``cluster`` is None or empty)."""
    if not cluster:
        return statement
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", cluster):
        raise ValueError(f"bad cluster name {cluster!r}")
    sql = statement.strip()
    if not _DDL.match(sql):
        return statement  # INSERT ... SELECT etc.: data, replicated within the shard by the engine
    for head in _HEADS:
        m = head.match(sql)
        if m:
            sql = f"{m.group(1)} ON CLUSTER '{cluster}'{sql[m.end(1) :]}"
            break
    else:
        raise ValueError(f"cannot place this DDL on a cluster: {sql[:80]!r}")
    sql = _fix_empty_params(_ENGINE.sub(_engine, sql))
    return sql.replace("non_replicated_deduplication_window", "replicated_deduplication_window")


def _fix_empty_params(sql: str) -> str:
    """``ReplicatedX(path, replica, )`` (an engine written ``X()``) -> ``ReplicatedX(path, replica)``."""
    return sql.replace(f"{REPLICA_ARGS}, )", f"{REPLICA_ARGS})")


def shard_for(tenant: str, clusters: Sequence[str]) -> str:
    """The cluster (one per shard) a tenant's database goes to: rendezvous hashing, so adding a shard
    moves only the tenants that now hash highest to it."""
    if not clusters:
        raise ValueError("no clusters to choose from")
    return max(clusters, key=lambda c: hashlib.sha256(f"{c}\0{tenant}".encode()).digest())
