"""The ClickHouse sink over HTTP (chdb in its own process) behaves exactly like in-process chdb.

One behaviour suite runs against both backends (``chdb://PATH`` in this process and
``http://127.0.0.1:P`` served by :class:`EmbeddedClickHouseServer`), then the HTTP backend
alone is stopped, killed and restarted under a live connection.
"""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import clickhouse_connect
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError
from tests.support.clickhouse_http import EmbeddedClickHouseServer
from tests.support.synthetic import BillShape, synthetic_batches

from cloudops.errors import TransientError
from cloudops.sinks.analytics import Analytics
from cloudops.sinks.clickhouse import connect, file_landed, migrate
from cloudops.sinks.clickhouse.client import ClickHouse, close_all
from cloudops.sinks.clickhouse.periods import swap_period
from cloudops.sinks.clickhouse.planner import Filter, Query
from cloudops.sinks.clickhouse.writer import insert_focus_batch

pytestmark = pytest.mark.integration

SHAPE = BillShape(start=datetime(2025, 1, 1, tzinfo=UTC), days=59, resources=300, sub_accounts=8, seed=5)
ROWS = 12_000
BATCH_ROWS = 3_000
FEB = datetime(2025, 2, 1, tzinfo=UTC)
QUERIES = [
    Query(group_by=("ServiceName",)),
    Query(metrics=("BilledCost", "EffectiveCost", "Savings", "Rows"), group_by=("ProviderName", "RegionId")),
    Query(group_by=("BillingAccountId",), granularity="day", start=datetime(2025, 1, 1, tzinfo=UTC), end=FEB),
    Query(group_by=("ResourceId",), top_n=20),
    Query(group_by=("tag:team",), metrics=("BilledCost", "Rows")),
    Query(filters=(Filter(dimension="ProviderName", op="not_in", values=("AWS",)),), group_by=("ServiceName",)),
    Query(group_by=("ConsumedUnit",), metrics=("ConsumedQuantity",), start=datetime(2025, 1, 10, 6, tzinfo=UTC)),
]


def _batches(file_id: str = "file-1", seed: int = 5, rows: int = ROWS) -> list[pa.RecordBatch]:
    shape = BillShape(**{**SHAPE.__dict__, "seed": seed})
    return list(synthetic_batches(rows, shape=shape, batch_rows=BATCH_ROWS, file_id=file_id))


def _naive_utc(v: Any) -> Any:
    """clickhouse-connect returns DateTime64(6, 'UTC') as naive UTC datetimes (server timezone UTC)."""
    return v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) and v.tzinfo else v


def _count(ch: ClickHouse, sql: str) -> int:
    return int(ch.call(lambda c: c.query(sql).result_rows[0][0]))


async def _load(ch: ClickHouse, tenant: str, batches: list[pa.RecordBatch], prefix: str = "file-1") -> None:
    for i, batch in enumerate(batches):
        await insert_focus_batch(ch, tenant, batch, token=f"{prefix}-{i}")


@pytest.fixture(params=["chdb", "http"])
def clickhouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ClickHouse]:
    """A migrated-tenant-free ClickHouse connection on each backend (fresh data per test)."""
    close_all()
    server = EmbeddedClickHouseServer(tmp_path / "chdb-http").start() if request.param == "http" else None
    try:
        yield connect(server.dsn if server else f"chdb://{tmp_path / 'chdb'}")
    finally:
        close_all()
        if server:
            server.stop()


async def test_batches_round_trip_exactly(clickhouse: ClickHouse) -> None:
    migrate(clickhouse, "acme")
    batches = _batches()
    await _load(clickhouse, "acme", batches)
    names = batches[0].schema.names
    cols = ", ".join(f"`{n}`" for n in names)
    got = clickhouse.call(lambda c: c.query(f"SELECT {cols} FROM tenant_acme.focus ORDER BY x_RowNumber").result_rows)
    want = [tuple(_naive_utc(r[n]) for n in names) for b in batches for r in b.to_pylist()]
    assert len(got) == ROWS
    # Every column, every row: Decimal(38, 10) money, Nullable, LowCardinality, DateTime64(6).
    assert got == want
    types = dict(
        clickhouse.call(
            lambda c: (
                c.query(
                    "SELECT name, type FROM system.columns WHERE database = 'tenant_acme' AND table = 'focus'"
                ).result_rows
            )
        )
    )
    assert types["BilledCost"] == "Decimal(38, 10)"
    assert types["SubAccountId"] == "LowCardinality(Nullable(String))"


async def test_redelivery_is_dropped_and_file_landed_counts_once(clickhouse: ClickHouse) -> None:
    migrate(clickhouse, "acme")
    batches = _batches()
    await _load(clickhouse, "acme", batches)
    await insert_focus_batch(clickhouse, "acme", batches[0], token="file-1-0")  # redelivered: dropped
    await insert_focus_batch(clickhouse, "acme", batches[2], token="file-1-2")
    assert _count(clickhouse, "SELECT count() FROM tenant_acme.focus") == ROWS
    assert _count(clickhouse, "SELECT sum(Rows) FROM tenant_acme.rollup_day") == ROWS  # the views deduplicated too
    landed = await file_landed(clickhouse, "acme", "file-1")
    assert landed.rows == ROWS
    assert landed.source_rows == ROWS
    table = pa.Table.from_batches(batches)
    assert landed.totals == {"USD": sum(table.column("BilledCost").to_pylist(), Decimal(0))}
    # The token, not the content, identifies a batch: new token, same rows -> inserted again.
    await insert_focus_batch(clickhouse, "acme", batches[1], token="another-token")
    assert _count(clickhouse, "SELECT count() FROM tenant_acme.focus") == ROWS + BATCH_ROWS


async def test_planned_queries_equal_raw(clickhouse: ClickHouse) -> None:
    migrate(clickhouse, "acme")
    batches = _batches()
    await _load(clickhouse, "acme", batches)
    analytics = Analytics(clickhouse, sizes_ttl_s=0)
    for q in QUERIES:
        planned = await analytics.run("acme", q)
        raw = await analytics.run("acme", q, allow_rollups=False)
        assert planned.rows, q
        if q.top_n:
            assert [r[-1] for r in planned.rows] == [r[-1] for r in raw.rows], q
        else:
            assert sorted(planned.rows, key=str) == sorted(raw.rows, key=str), q
    total = await analytics.run("acme", Query(metrics=("BilledCost", "Rows")))
    table = pa.Table.from_batches(batches)
    assert total.rows == [(sum(table.column("BilledCost").to_pylist(), Decimal(0)), ROWS)]


async def test_swap_period_replaces_one_partition(clickhouse: ClickHouse) -> None:
    migrate(clickhouse, "acme")
    await _load(clickhouse, "acme", _batches())
    restated = pa.Table.from_batches(
        [
            b.filter(
                pc.and_(pc.equal(b.column("x_Provider"), "aws"), pc.equal(pc.month(b.column("BillingPeriodStart")), 2))
            )
            for b in _batches("file-2", seed=77)
        ]
    )
    assert restated.num_rows > 0
    for i, b in enumerate(restated.to_batches(max_chunksize=1_000)):
        await insert_focus_batch(clickhouse, "acme", b, token=f"restate-{i}", staging=True)
    feb_aws = "FROM tenant_acme.focus WHERE x_Source = 'aws' AND toYYYYMM(BillingPeriodStart) = 202502"
    others = (
        "SELECT count() FROM tenant_acme.focus WHERE NOT (x_Source = 'aws' AND toYYYYMM(BillingPeriodStart) = 202502)"
    )
    untouched = _count(clickhouse, others)
    swap_period(clickhouse, "acme", date(2025, 2, 1), "aws")
    n, total = clickhouse.call(lambda c: c.query(f"SELECT count(), sum(BilledCost) {feb_aws}").result_rows[0])
    assert n == restated.num_rows
    assert total == sum(restated.column("BilledCost").to_pylist(), Decimal(0))
    assert _count(clickhouse, others) == untouched
    assert _count(clickhouse, "SELECT count() FROM tenant_acme.focus_staging") == 0


async def test_errors_carry_clickhouse_codes(clickhouse: ClickHouse) -> None:
    with pytest.raises(DatabaseError) as syntax:
        clickhouse.command("SELEC 1")
    assert syntax.value.code == 62
    with pytest.raises(DatabaseError) as missing:
        clickhouse.call(lambda c: c.query("SELECT count() FROM tenant_nobody.focus"))
    assert missing.value.code in (60, 81)
    with pytest.raises(DatabaseError) as unbound:
        clickhouse.call(lambda c: c.query("SELECT {x:UInt8} + 1", parameters={"x": "not a number"}))
    assert unbound.value.code == 457  # BAD_QUERY_PARAMETER
    assert clickhouse.call(lambda c: c.query("SELECT {x:UInt8} + 1", parameters={"x": 41}).result_rows) == [(42,)]


async def _scenario(ch: ClickHouse) -> dict[str, Any]:
    """The same operations on one backend; returns everything they observed."""
    migrate(ch, "acme")
    batches = _batches()
    await _load(ch, "acme", batches)
    await insert_focus_batch(ch, "acme", batches[1], token="file-1-1")
    out: dict[str, Any] = {"count": _count(ch, "SELECT count() FROM tenant_acme.focus")}
    out["landed"] = await file_landed(ch, "acme", "file-1")
    analytics = Analytics(ch, sizes_ttl_s=0)
    out["queries"] = [sorted((await analytics.run("acme", q)).rows, key=str) for q in QUERIES]
    for i, b in enumerate(_batches("file-2", seed=9, rows=3_000)):
        await insert_focus_batch(ch, "acme", b, token=f"s-{i}", staging=True)
    swap_period(ch, "acme", date(2025, 1, 1), "aws")
    out["after_swap"] = ch.call(
        lambda c: (
            c.query(
                "SELECT x_Source, toYYYYMM(BillingPeriodStart) AS m, count(), sum(BilledCost) FROM tenant_acme.focus "
                "GROUP BY x_Source, m ORDER BY x_Source, m"
            ).result_rows
        )
    )
    out["migrations"] = ch.call(
        lambda c: c.query("SELECT version, name FROM tenant_acme.schema_migrations FINAL ORDER BY version").result_rows
    )
    return out


async def test_http_answers_exactly_like_in_process(tmp_path: Path) -> None:
    close_all()
    try:
        in_process = await _scenario(connect(f"chdb://{tmp_path / 'chdb'}"))
    finally:
        close_all()
    with EmbeddedClickHouseServer(tmp_path / "chdb-http") as server:
        try:
            over_http = await _scenario(connect(server.dsn))
        finally:
            close_all()
    assert over_http == in_process
    assert in_process["count"] == ROWS


async def test_outage_is_transient_and_the_same_connection_recovers(tmp_path: Path) -> None:
    close_all()
    server = EmbeddedClickHouseServer(tmp_path / "chdb-http")
    ch = connect(server.dsn)
    try:
        # Created while the server is down: the first call fails transiently, later ones work.
        with pytest.raises(TransientError):
            ch.command("SELECT 1")
        server.start()
        migrate(ch, "acme")
        batches = _batches()
        await _load(ch, "acme", batches[:2])
        assert _count(ch, "SELECT count() FROM tenant_acme.focus") == 2 * BATCH_ROWS

        server.stop()
        with pytest.raises(TransientError):
            ch.command("SELECT 1")
        with pytest.raises(TransientError):
            await insert_focus_batch(ch, "acme", batches[2], token="file-1-2")
        with pytest.raises(TransientError):
            await file_landed(ch, "acme", "file-1")

        server.start()  # same path, same port: same data, same ClickHouse object
        assert _count(ch, "SELECT count() FROM tenant_acme.focus") == 2 * BATCH_ROWS
        await insert_focus_batch(ch, "acme", batches[2], token="file-1-2")
        await insert_focus_batch(ch, "acme", batches[0], token="file-1-0")  # dedup window survived the restart
        assert _count(ch, "SELECT count() FROM tenant_acme.focus") == 3 * BATCH_ROWS

        server.kill()  # a crash after the response: the committed insert is kept
        with pytest.raises(TransientError):
            ch.command("SELECT 1")
        server.start()
        assert (await file_landed(ch, "acme", "file-1")).rows == 3 * BATCH_ROWS
    finally:
        close_all()
        server.stop()


def test_settings_apply_per_request_and_session(tmp_path: Path) -> None:
    with EmbeddedClickHouseServer(tmp_path / "chdb-http") as server:
        a = clickhouse_connect.get_client(dsn=server.dsn)
        b = clickhouse_connect.get_client(dsn=server.dsn)
        limited = {"max_result_rows": 2, "result_overflow_mode": "throw"}
        with pytest.raises(DatabaseError) as too_many:
            a.query("SELECT number FROM numbers(5)", settings=limited)
        assert too_many.value.code == 396  # TOO_MANY_ROWS_OR_BYTES
        assert len(a.query("SELECT number FROM numbers(5)").result_rows) == 5  # did not stick
        default = b.command("SELECT getSetting('max_block_size')")
        a.command("SET max_block_size = 1234")
        a.command("CREATE DATABASE scratch")
        a.command("USE scratch")
        assert a.command("SELECT getSetting('max_block_size')") == 1234  # kept for a's session
        assert a.command("SELECT currentDatabase()") == "scratch"
        assert b.command("SELECT getSetting('max_block_size')") == default  # not for b's
        assert b.command("SELECT currentDatabase()") == "default"
        with pytest.raises(DatabaseError) as unknown:
            b.query("SELECT 1", settings={"no_such_setting_anywhere": 1})
        assert unknown.value.code == 115
        a.close()
        b.close()


def _http(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_plain_http_clients_see_clickhouse_semantics(tmp_path: Path) -> None:
    with EmbeddedClickHouseServer(tmp_path / "chdb-http") as server:
        assert _http(f"{server.dsn}/ping")[2] == b"Ok.\n"
        assert _http(f"{server.dsn}/")[2] == b"Ok.\n"
        create = "CREATE TABLE t (a UInt8, s LowCardinality(String), m Decimal(38, 10)) ENGINE = MergeTree ORDER BY a"
        assert _http(f"{server.dsn}/?query={quote(create)}", b"")[0] == 200
        # The query parameter is prepended to the (gzip-compressed) body, which carries the rows.
        rows = gzip.compress(b"1,x,0.1000000001\n2,y,-3\n")
        status, headers, _ = _http(
            f"{server.dsn}/?query={quote('INSERT INTO t FORMAT CSV')}", rows, {"Content-Encoding": "gzip"}
        )
        assert status == 200
        assert json.loads(headers["X-ClickHouse-Summary"])["written_rows"] == "2"
        assert "X-ClickHouse-Format" not in headers  # an insert returns no result
        status, headers, body = _http(
            f"{server.dsn}/?default_format=CSV&param_n=1",
            b"SELECT a, s, m FROM t WHERE a > {n:UInt8}",
            {"Accept-Encoding": "gzip"},
        )
        assert (status, headers["X-ClickHouse-Format"], body) == (200, "CSV", b'2,"y",-3\n')
        status, headers, body = _http(f"{server.dsn}/", b"SELECT * FROM missing")
        assert status == 404
        assert headers["X-ClickHouse-Exception-Code"] == "60"
        assert body.startswith(b"Code: 60. DB::Exception: ")
        assert b"(UNKNOWN_TABLE) (version " in body
