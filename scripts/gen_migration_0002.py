"""Generates src/cloudops/sinks/clickhouse/migrations/0002_analytics.{up,down}.sql (run once; output committed).

Kept for review: the migration text is data, frozen once applied anywhere.
"""

from __future__ import annotations

from pathlib import Path

from cloudops.focus.columns import EXTENSION_COLUMNS, FOCUS_COLUMNS
from cloudops.sinks.clickhouse.planner import RESOURCE_DIMENSIONS, ROLLUP_DIMENSIONS, TAG_DIMENSIONS

OUT = Path(__file__).parents[1] / "src/cloudops/sinks/clickhouse/migrations"


def ch_type(c) -> str:  # type: ignore[no-untyped-def]
    base = {
        "decimal": "Decimal(38, 10)",
        "datetime": "DateTime64(6, 'UTC')",
        "dimension": "String",
        "string": "String",
        "json": "String",
        "integer": "Int64",
    }[c.kind]
    if c.nullable:
        base = f"Nullable({base})"
    if c.kind == "dimension":
        base = f"LowCardinality({base})"
    codec = {
        "datetime": " CODEC(Delta, ZSTD(1))",
        "string": " CODEC(ZSTD(1))",
        "json": " CODEC(ZSTD(3))",
        "decimal": " CODEC(ZSTD(1))",
    }.get(c.kind, "")
    return base + codec


COLS = FOCUS_COLUMNS + EXTENSION_COLUMNS
names = ", ".join(f"`{c.name}`" for c in COLS)
defs = ",\n".join(f"    `{c.name}` {ch_type(c)}" for c in COLS)

FACT = """CREATE TABLE {{db}}.{table}
(
{defs},
    `x_Source` LowCardinality(String) DEFAULT x_Provider,
    `x_IngestedAt` DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_file_id x_FileId TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY (toYYYYMM(BillingPeriodStart), x_Source)
ORDER BY (x_Provider, BillingAccountId, ServiceName, ChargePeriodStart, x_FileId, x_RowNumber)
SETTINGS non_replicated_deduplication_window = {{dedup_window}};
"""

METRICS = """    `BilledCost` Decimal(38, 10),
    `EffectiveCost` Decimal(38, 10),
    `ListCost` Decimal(38, 10),
    `ContractedCost` Decimal(38, 10),
    `ConsumedQuantity` Decimal(38, 10),
    `Rows` UInt64"""
METRIC_SELECT = """sum(BilledCost) AS BilledCost, sum(EffectiveCost) AS EffectiveCost, sum(ListCost) AS ListCost,
    sum(ContractedCost) AS ContractedCost, sum(ifNull(ConsumedQuantity, 0)) AS ConsumedQuantity, count() AS Rows"""

DIMS = list(ROLLUP_DIMENSIONS)  # the planner's view of each rollup is the single source of truth
ROLLUPS = {
    # name: (time column expression, time column name, dims)
    "rollup_day": ("toDate(ChargePeriodStart)", "Day", DIMS),
    "rollup_month": ("toStartOfMonth(ChargePeriodStart)", "Month", DIMS),
    "rollup_resource_month": (
        "toStartOfMonth(ChargePeriodStart)",
        "Month",
        list(RESOURCE_DIMENSIONS),
    ),
}
TAG_DIMS = list(TAG_DIMENSIONS)


def rollup_table(name: str, time_name: str, dims: list[str], extra: list[str] | None = None) -> str:
    cols = [f"    `{time_name}` Date", "    `BillingMonth` Date", "    `x_Source` LowCardinality(String)"]
    cols += [f"    `{d}` LowCardinality(String)" for d in dims + (extra or [])]
    key = ", ".join([time_name, *dims, *(extra or [])])
    return (
        f"CREATE TABLE {{db}}.{name}\n(\n" + ",\n".join(cols) + ",\n" + METRICS + "\n)\n"
        "ENGINE = SummingMergeTree\nPARTITION BY (toYYYYMM(BillingMonth), x_Source)\n"
        f"ORDER BY ({key})\nSETTINGS non_replicated_deduplication_window = {{dedup_window}};\n"
    )


def rollup_view(name: str, source: str, time_expr: str, time_name: str, dims: list[str]) -> str:
    sel = ",\n    ".join(f"ifNull({d}, '') AS {d}" for d in dims)
    group = ", ".join([time_name, "BillingMonth", "x_Source", *dims])
    return (
        f"CREATE MATERIALIZED VIEW {{db}}.mv_{name}{'_staging' if source.endswith('staging') else ''} "
        f"TO {{db}}.{name}{'_staging' if source.endswith('staging') else ''} AS\nSELECT\n"
        f"    {time_expr} AS {time_name},\n    toDate(toStartOfMonth(BillingPeriodStart)) AS BillingMonth,\n"
        f"    x_Source,\n    {sel},\n    {METRIC_SELECT}\nFROM {{db}}.{source}\nGROUP BY {group};\n"
    )


def cascade_view(suffix: str, dims: list[str]) -> str:
    """rollup_month fed from rollup_day's inserted (already aggregated) blocks: far less work per insert."""
    cols = ", ".join(dims)
    metrics = ", ".join(
        f"sum({m}) AS {m}"
        for m in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "ConsumedQuantity", "Rows")
    )
    return (
        f"CREATE MATERIALIZED VIEW {{db}}.mv_rollup_month{suffix} TO {{db}}.rollup_month{suffix} AS\n"
        f"SELECT toStartOfMonth(Day) AS Month, BillingMonth, x_Source, {cols}, {metrics}\n"
        f"FROM {{db}}.rollup_day{suffix}\nGROUP BY Month, BillingMonth, x_Source, {cols};\n"
    )


def tag_view(source: str, suffix: str) -> str:
    # Aggregate by the Tags text first (few distinct values), then split the JSON: the
    # JSON is parsed once per group, not once per row.
    dims = ", ".join(TAG_DIMS)
    inner_sel = ",\n        ".join(f"ifNull({d}, '') AS {d}" for d in TAG_DIMS)
    group = ", ".join(["Day", "BillingMonth", "x_Source", *TAG_DIMS, "TagKey", "TagValue"])
    metrics = ", ".join(
        f"sum({m}) AS {m}"
        for m in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "ConsumedQuantity", "Rows")
    )
    return (
        f"CREATE MATERIALIZED VIEW {{db}}.mv_rollup_tag_day{suffix} TO {{db}}.rollup_tag_day{suffix} AS\n"
        f"SELECT Day, BillingMonth, x_Source, {dims}, tag.1 AS TagKey, tag.2 AS TagValue, {metrics}\n"
        "FROM\n(\n    SELECT\n        toDate(ChargePeriodStart) AS Day,\n"
        "        toDate(toStartOfMonth(BillingPeriodStart)) AS BillingMonth,\n        x_Source,\n"
        f"        {inner_sel},\n        assumeNotNull(Tags) AS TagsText,\n        {METRIC_SELECT}\n"
        f"    FROM {{db}}.{source}\n    WHERE Tags IS NOT NULL\n"
        f"    GROUP BY Day, BillingMonth, x_Source, {dims}, TagsText\n)\n"
        "ARRAY JOIN JSONExtractKeysAndValues(TagsText, 'String') AS tag\n"
        f"GROUP BY {group};\n"
    )


up = [
    "-- 0002: the analytics layout (issue 4).",
    "-- * focus: partitioned by (billing month, source) so a restated period of one source can be swapped",
    "--   atomically (REPLACE PARTITION); x_TagsMap materialised from Tags for tag queries.",
    "-- * rollups: SummingMergeTree tables fed by materialised views, day and month grain over the dashboard",
    "--   dimensions, a tag rollup (one row per tag key/value) and a per-resource day rollup.",
    "-- * *_staging twins (same layout, same views) for loading a restated period before swapping it in.",
    "-- {db} and {dedup_window} are filled in by the migrator.",
    FACT.format(table="focus_v2", defs=defs),
    f"INSERT INTO {{db}}.focus_v2 ({names}) SELECT {names} FROM {{db}}.focus;\n",
    "EXCHANGE TABLES {db}.focus AND {db}.focus_v2;\n",
    "DROP TABLE {db}.focus_v2;\n",
    FACT.format(table="focus_staging", defs=defs),
]
for suffix in ("", "_staging"):
    for name, (_expr, tname, dims) in ROLLUPS.items():
        up.append(rollup_table(name + suffix, tname, dims))
    up.append(rollup_table("rollup_tag_day" + suffix, "Day", TAG_DIMS, ["TagKey", "TagValue"]))
for suffix, source in (("", "focus"), ("_staging", "focus_staging")):
    for name, (expr, tname, dims) in ROLLUPS.items():
        if name == "rollup_month":
            up.append(cascade_view(suffix, dims))
        else:
            up.append(rollup_view(name, source, expr, tname, dims))
    up.append(tag_view(source, suffix))
# Backfill rollups from what focus already holds (views only see new inserts).
for name, (expr, tname, dims) in ROLLUPS.items():
    view = rollup_view(name, "focus", expr, tname, dims)
    select = view.split(" AS\n", 1)[1]
    up.append(f"INSERT INTO {{db}}.{name}\n{select}")
tag_select = tag_view("focus", "").split(" AS\n", 1)[1]
up.append(f"INSERT INTO {{db}}.rollup_tag_day\n{tag_select}")

down = ["-- Reverts 0002: drops rollups, staging and views; restores the 0001 partitioning (data kept)."]
for suffix in ("", "_staging"):
    for name in [*ROLLUPS, "rollup_tag_day"]:
        down.append(f"DROP VIEW IF EXISTS {{db}}.mv_{name}{suffix};\n")
        down.append(f"DROP TABLE IF EXISTS {{db}}.{name}{suffix};\n")
down.append("DROP TABLE IF EXISTS {db}.focus_staging;\n")
v1 = (OUT / "0001_focus.up.sql").read_text().split("CREATE TABLE IF NOT EXISTS {db}.focus", 1)[1]
down.append("CREATE TABLE {db}.focus_v1" + v1.rstrip() + "\n")
down.append(f"INSERT INTO {{db}}.focus_v1 ({names}) SELECT {names} FROM {{db}}.focus;\n")
down.append("EXCHANGE TABLES {db}.focus AND {db}.focus_v1;\n")
down.append("DROP TABLE {db}.focus_v1;\n")

(OUT / "0002_analytics.up.sql").write_text("\n".join(up))
(OUT / "0002_analytics.down.sql").write_text("\n".join(down))
print("written")
