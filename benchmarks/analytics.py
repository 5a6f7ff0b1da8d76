"""Analytics benchmark: load synthetic FOCUS rows through the production insert path into
ClickHouse (chdb, with every rollup attached), then time a fixed dashboard query set three
ways: raw table without planning, planned (rollups), and Redis cache hits.

    python benchmarks/analytics.py --rows 10000000        # default 100,000,000

Prints load rows/s, p50/p95 latency per mode and the ratios, and on-disk size per table and
the largest columns (compression). Compared against: the same queries forced onto the raw
table (`--raw` path of the planner) on the same engine and data.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the synthetic bill generator lives in tests/support (not installed)
    sys.path.insert(0, str(ROOT))

from tests.support.synthetic import BillShape, synthetic_batches  # noqa: E402

from cloudops.embedded.net import free_port, wait_for_port  # noqa: E402
from cloudops.sinks.analytics import Analytics  # noqa: E402
from cloudops.sinks.clickhouse import connect, migrate  # noqa: E402
from cloudops.sinks.clickhouse.client import ClickHouse, close_all  # noqa: E402
from cloudops.sinks.clickhouse.planner import Filter, Query  # noqa: E402
from cloudops.sinks.clickhouse.tags import promote_tags  # noqa: E402
from cloudops.sinks.clickhouse.writer import insert_focus_batch  # noqa: E402
from cloudops.sinks.redis import QueryCache  # noqa: E402

TENANT = "bench"
console = Console()


def dashboard(end: datetime) -> list[tuple[str, Query]]:
    """The fixed dashboard query set (names are what the README table shows)."""
    out: list[tuple[str, Query]] = []
    for days in (30, 90, 365):
        start = end - timedelta(days=days)
        out += [
            (f"cost by day, {days}d", Query(granularity="day", start=start, end=end)),
            (f"cost by service, {days}d", Query(group_by=("ServiceName",), start=start, end=end)),
            (f"cost by account, {days}d", Query(group_by=("BillingAccountId", "SubAccountId"), start=start, end=end)),
            (f"cost by region, {days}d", Query(group_by=("RegionId",), start=start, end=end)),
            (f"cost by tag team, {days}d", Query(group_by=("tag:team",), start=start, end=end)),
        ]
    year = end - timedelta(days=365)
    out += [
        ("month over month by service", Query(group_by=("ServiceName",), granularity="month", start=year, end=end)),
        (
            "top 50 resources, last month",
            Query(group_by=("ResourceId",), top_n=50, start=(end - timedelta(days=1)).replace(day=1), end=end),
        ),
        (
            "commitment coverage, 90d",
            Query(
                metrics=("EffectiveCost", "ListCost", "Savings"),
                group_by=("PricingCategory", "CommitmentDiscountStatus"),
                filters=(Filter(dimension="ChargeCategory", values=("Usage",)),),
                start=end - timedelta(days=90),
                end=end,
            ),
        ),
    ]
    return out


def tag_queries(end: datetime) -> list[tuple[str, Query]]:
    """Questions only the raw table answers (a tag with a dimension no tag rollup has, or two tag keys)."""
    start = end - timedelta(days=30)
    return [
        (
            "top 50 resources of team payments, 30d",
            Query(
                group_by=("ResourceId",),
                filters=(Filter(dimension="tag:team", values=("payments",)),),
                top_n=50,
                start=start,
                end=end,
            ),
        ),
        ("cost by team and env, 30d", Query(group_by=("tag:team", "tag:env"), start=start, end=end)),
    ]


async def promoted_tags_section(ch: ClickHouse, analytics: Analytics, end: datetime, repeat: int) -> None:
    """Raw-table tag queries parsing the Tags JSON, then with the keys promoted to columns."""
    queries = tag_queries(end)

    async def p50s() -> list[float]:
        out = []
        for _, q in queries:
            runs = [(await analytics.run(TENANT, q, use_cache=False)).seconds * 1000 for _ in range(repeat)]
            out.append(statistics.median(runs))
        return out

    before = await p50s()
    started = time.perf_counter()
    promote_tags(ch, TENANT, ["team", "env"])
    promote_s = time.perf_counter() - started
    analytics.forget(TENANT)  # see the new columns now, not after the planner's cache expires
    after = await p50s()
    t = Table(
        "raw-table tag query",
        "Tags JSON p50 ms",
        "promoted p50 ms",
        "speed-up",
        title=f"promoted tag columns (team, env: added and back-filled in {promote_s:.1f}s)",
    )
    for (name, _), b, a in zip(queries, before, after, strict=True):
        t.add_row(name, f"{b:.1f}", f"{a:.1f}", f"{b / a:.1f}x")
    console.print(t)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    k = (len(values) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def start_redis(work: Path) -> tuple[subprocess.Popen[bytes] | None, str | None]:
    exe = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)
    if exe is None:
        return None, None
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(work)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port("127.0.0.1", port, 10)
    return proc, f"redis://127.0.0.1:{port}/0"


async def main(rows: int, repeat: int, work: Path) -> None:
    shape = BillShape(start=datetime(2025, 1, 1, tzinfo=UTC), days=365)
    ch = connect(f"chdb://{work / 'chdb'}")
    migrate(ch, TENANT, dedup_window=10_000)
    gen_s = load_s = 0.0
    loaded = 0
    t0 = time.perf_counter()
    # Files of one (billing month, provider) each, like real exports: every month of every provider gets data.
    batch_rows = max(50_000, min(1_000_000, rows // 60))
    batches = synthetic_batches(rows, shape=shape, batch_rows=batch_rows, file_id="bench")
    while True:
        g = time.perf_counter()
        batch = next(batches, None)
        gen_s += time.perf_counter() - g
        if batch is None:
            break
        s = time.perf_counter()
        await insert_focus_batch(ch, TENANT, batch, token=f"bench-{loaded}")
        load_s += time.perf_counter() - s
        loaded += batch.num_rows
        console.print(f"  loaded {loaded:,}/{rows:,} rows ({loaded / load_s:,.0f} rows/s insert)", end="\r")
    console.print()
    views = ch.call(
        lambda c: (
            c.query(
                "SELECT name FROM system.tables WHERE database = {d:String} AND engine = 'MaterializedView' "
                "AND name NOT LIKE '%staging'",
                parameters={"d": f"tenant_{TENANT}"},
            ).result_rows
        )
    )
    console.print(
        f"generated {rows:,} rows in {gen_s:.1f}s; inserted in {load_s:.1f}s "
        f"([bold]{rows / load_s:,.0f} rows/s[/bold] with {len(views)} rollup views attached); "
        f"wall {time.perf_counter() - t0:.1f}s"
    )
    # Queries are measured once the background merges of the load have finished, as on a server
    # between loads (merges of a fresh load compete with the queries for this machine's 2 cores).
    settle = time.perf_counter()
    while time.perf_counter() - settle < 600:
        running = ch.call(
            lambda c: c.query(
                "SELECT count() FROM system.merges WHERE database = {d:String}",
                parameters={"d": f"tenant_{TENANT}"},
            ).result_rows[0][0]
        )
        if not running:
            break
        await asyncio.sleep(1)
    console.print(f"background merges settled after {time.perf_counter() - settle:.1f}s")
    ch.command(f"OPTIMIZE TABLE tenant_{TENANT}.rollup_month FINAL")  # what background merges converge to

    redis_proc, redis_url = start_redis(work)
    cache = QueryCache(redis_url) if redis_url else None
    plain = Analytics(ch)
    cached = Analytics(ch, cache) if cache else None
    queries = dashboard(shape.start + timedelta(days=shape.days))
    times: dict[str, list[float]] = {"raw": [], "planned": [], "cache": []}
    detail = Table("query", "source", "raw p50 ms", "planned p50 ms", "speed-up")
    for name, q in queries:
        per: dict[str, list[float]] = {"raw": [], "planned": []}
        source = ""
        for _ in range(repeat):
            for mode, allow in (("raw", False), ("planned", True)):
                r = await plain.run(TENANT, q, allow_rollups=allow, use_cache=False)
                per[mode].append(r.seconds * 1000)
                if allow:
                    source = r.plan.source
        if cached is not None:
            await cached.run(TENANT, q)  # fill
            for _ in range(repeat):
                r = await cached.run(TENANT, q)
                assert r.cached
                times["cache"].append(r.seconds * 1000)
        times["raw"] += per["raw"]
        times["planned"] += per["planned"]
        raw50, plan50 = statistics.median(per["raw"]), statistics.median(per["planned"])
        detail.add_row(name, source, f"{raw50:.1f}", f"{plan50:.1f}", f"{raw50 / plan50:.0f}x")
    console.print(detail)

    summary = Table(title=f"dashboard set: {len(queries)} queries x {repeat} runs, {rows:,} rows")
    summary.add_column("mode")
    summary.add_column("p50 ms", justify="right")
    summary.add_column("p95 ms", justify="right")
    summary.add_column("vs raw (p95)", justify="right")
    raw95 = pct(times["raw"], 0.95)
    for mode in ("raw", "planned", "cache"):
        if not times[mode]:
            summary.add_row(mode, "-", "-", "no redis-server")
            continue
        p95 = pct(times[mode], 0.95)
        summary.add_row(mode, f"{pct(times[mode], 0.5):.2f}", f"{p95:.2f}", f"{raw95 / p95:.0f}x")
    console.print(summary)
    await promoted_tags_section(ch, plain, shape.start + timedelta(days=shape.days), repeat)

    sizes = ch.call(
        lambda c: (
            c.query(
                "SELECT table, sum(rows), formatReadableSize(sum(data_compressed_bytes)), "
                "formatReadableSize(sum(data_uncompressed_bytes)), round(sum(data_uncompressed_bytes) / "
                "greatest(sum(data_compressed_bytes), 1), 1) FROM system.parts WHERE active AND database = {d:String} "
                "AND table NOT LIKE '%staging' GROUP BY table ORDER BY sum(rows) DESC",
                parameters={"d": f"tenant_{TENANT}"},
            ).result_rows
        )
    )
    t = Table("table", "rows", "compressed", "uncompressed", "ratio", title="storage")
    for row in sizes:
        t.add_row(*[f"{v:,}" if isinstance(v, int) else str(v) for v in row])
    console.print(t)
    cols = ch.call(
        lambda c: (
            c.query(
                "SELECT name, compression_codec, formatReadableSize(data_compressed_bytes), "
                "round(data_uncompressed_bytes / greatest(data_compressed_bytes, 1), 1) FROM system.columns "
                "WHERE database = {d:String} AND table = 'focus' ORDER BY data_compressed_bytes DESC LIMIT 12",
                parameters={"d": f"tenant_{TENANT}"},
            ).result_rows
        )
    )
    t = Table("column", "codec", "compressed", "ratio", title="largest columns of focus")
    for row in cols:
        t.add_row(*[str(v) for v in row])
    console.print(t)
    if cache:
        await cache.close()
    if redis_proc:
        redis_proc.terminate()
    close_all()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000_000)
    ap.add_argument("--repeat", type=int, default=7, help="runs per query and mode")
    ap.add_argument("--work-dir", type=Path, default=None, help="keep the data here (default: temp, removed)")
    args = ap.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="cloudops-bench-"))
    try:
        asyncio.run(main(args.rows, args.repeat, work))
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(0)
