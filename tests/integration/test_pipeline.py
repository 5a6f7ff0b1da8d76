"""The walking skeleton end to end on real local services:
moto S3 -> SQS -> bridge -> noida-db -> parse -> load -> chdb.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from tests.support.kafka import read_topic

from cloudops.app import create_app
from cloudops.embedded.broker import EmbeddedBroker
from cloudops.embedded.objectstore import EmbeddedObjectStore, provision_bucket_queue
from cloudops.schemas.events import BillingLoaded, DeadLetter, file_id_for
from cloudops.settings import Settings
from cloudops.sinks.clickhouse import connect, database_for
from cloudops.sources.objects import s3_client
from cloudops.topics.admin import ensure_topics
from cloudops.topics.codec import decode_record

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).parents[1] / "fixtures" / "aws" / "cur_sample.csv"


def _unblended_total(data: bytes) -> tuple[int, Decimal]:
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    return len(rows), sum((Decimal(r["lineItem/UnblendedCost"]) for r in rows), Decimal(0))


class Pipeline:
    def __init__(self, settings: Settings, bucket: str, queue_url: str) -> None:
        self.settings = settings
        self.bucket = bucket
        self.queue_url = queue_url
        self.tenant = settings.app.tenant

    async def upload(self, key: str, body: bytes) -> str:
        async with s3_client(self.settings.aws) as s3:
            resp = await s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        return file_id_for(self.tenant, f"s3://{self.bucket}/{key}", resp["ETag"].strip('"'), None)

    async def receipts(self, file_id: str, count: int = 1, timeout: float = 90) -> list[BillingLoaded]:
        def mine(recs: list) -> list[BillingLoaded]:
            out = [decode_record(BillingLoaded, r.value) for r in recs]
            return [r for r in out if r.file_id == file_id]

        recs = await read_topic(
            self.settings.kafka.bootstrap_servers,
            "billing-loaded",
            until=lambda rs: len(mine(rs)) >= count,
            timeout=timeout,
        )
        return mine(recs)

    async def dead_letters(self, topic: str, predicate, count: int = 1, timeout: float = 60) -> list[DeadLetter]:
        def mine(recs: list) -> list[DeadLetter]:
            return [d for d in (decode_record(DeadLetter, r.value) for r in recs) if predicate(d)]

        recs = await read_topic(
            self.settings.kafka.bootstrap_servers,
            topic,
            until=lambda rs: len(mine(rs)) >= count,
            timeout=timeout,
        )
        return mine(recs)

    def landed(self) -> tuple[int, Decimal]:
        ch = connect(self.settings.clickhouse_dsn)
        row = ch.call(
            lambda c: c.query(f"SELECT count(), sum(BilledCost) FROM {database_for(self.tenant)}.focus").result_rows
        )[0]
        return int(row[0]), Decimal(row[1])


@pytest.fixture
async def pipeline(
    broker: EmbeddedBroker, object_store: EmbeddedObjectStore, chdb_dsn: str, tmp_path: Path, unique: str
) -> AsyncIterator[Pipeline]:
    tenant = f"t{unique}"
    bucket = f"bills-{unique}"
    settings = Settings(
        app={"id": f"cloudops-test-{unique}", "tenant": tenant, "work_dir": tmp_path / "work"},
        kafka={"bootstrap_servers": broker.bootstrap_servers, "session_timeout_s": 10.0},
        clickhouse={"dsn": chdb_dsn},
        aws=object_store.settings(sqs_wait_seconds=1),
        ingest={"backoff_base_s": 0.05, "max_attempts": 2},
    )
    queue_url = await provision_bucket_queue(settings.aws, bucket, f"events-{unique}")
    settings = settings.with_overrides(aws={"sqs_queue_url": queue_url})
    await ensure_topics(settings.kafka)
    app, _rt = create_app(settings)
    await app.start()
    try:
        yield Pipeline(settings, bucket, queue_url)
    finally:
        await app.stop()


async def test_sample_lands_exactly_and_redelivery_changes_nothing(pipeline: Pipeline) -> None:
    data = SAMPLE.read_bytes()
    rows, total = _unblended_total(data)
    file_id = await pipeline.upload("cur/2023-11/cur.csv", data)

    [receipt] = await pipeline.receipts(file_id)
    assert receipt.reconciled
    assert (receipt.rows_in, receipt.rows_landed, receipt.rows_rejected) == (rows, rows, 0)
    assert receipt.source_totals == {"USD": total}
    assert receipt.landed_totals == {"USD": total}
    assert pipeline.landed() == (rows, total)

    # Deliver the very same S3 notification twice more (SQS is at-least-once).
    async with s3_client(pipeline.settings.aws) as s3:
        head = await s3.head_object(Bucket=pipeline.bucket, Key="cur/2023-11/cur.csv")
    body = json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": "us-east-1",
                    "eventTime": "2026-11-27T23:46:26.425Z",
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "bucket": {"name": pipeline.bucket},
                        "object": {
                            "key": "cur/2023-11/cur.csv",
                            "size": len(data),
                            "eTag": head["ETag"].strip('"'),
                        },
                    },
                }
            ]
        }
    )
    async with s3_client(pipeline.settings.aws, "sqs") as sqs:
        for _ in range(2):
            await sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody=body)
    receipts = await pipeline.receipts(file_id, count=3)
    assert all(r.reconciled and r.rows_landed == rows for r in receipts)
    assert pipeline.landed() == (rows, total)


def _with_bad_rows(data: bytes) -> tuple[bytes, int, Decimal]:
    """The sample plus one malformed record (extra fields) and one row with a non-numeric cost."""
    text = data.decode()
    header, *lines = text.splitlines()
    cols = next(csv.reader([header]))
    cost_idx = cols.index("lineItem/UnblendedCost")
    good = next(csv.reader([lines[0]]))
    bad_cost = list(good)
    bad_cost[cost_idx] = "twelve dollars"
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(bad_cost)
    malformed = lines[1] + ",extra,fields"
    body = "\n".join([header, *lines[:600], malformed, buf.getvalue().rstrip("\n"), *lines[600:]]) + "\n"
    return (
        body.encode(),
        len(lines),
        sum((Decimal(next(csv.reader([ln]))[cost_idx]) for ln in lines), Decimal(0)),
    )


async def test_bad_rows_go_to_dlq_and_the_rest_lands(pipeline: Pipeline) -> None:
    body, good_rows, good_total = _with_bad_rows(SAMPLE.read_bytes())
    file_id = await pipeline.upload("cur/bad-rows.csv", body)
    [receipt] = await pipeline.receipts(file_id)
    assert receipt.rows_in == good_rows + 2
    assert receipt.rows_rejected == 2
    assert receipt.rows_landed == good_rows
    assert receipt.landed_totals == {"USD": good_total}
    assert receipt.reconciled
    dead = await pipeline.dead_letters("focus-batches.dlq", lambda d: d.file_id == file_id, count=2)
    reasons = sorted(d.rejected_row.reason for d in dead if d.rejected_row)
    assert any("BilledCost: not a valid decimal value" in r for r in reasons)
    assert any("malformed CSV record" in r for r in reasons)
    assert all(d.error_kind == "bad_data" for d in dead)


async def test_poison_files_go_to_dlq_and_the_worker_keeps_running(pipeline: Pipeline) -> None:
    corrupt = gzip.compress(SAMPLE.read_bytes())[:5000]  # truncated gzip
    bad_id = await pipeline.upload("cur/truncated.csv.gz", corrupt)
    unknown_id = await pipeline.upload("cur/not-a-bill.csv", b"name,age\nalice,3\n")
    [dl] = await pipeline.dead_letters("billing-files.dlq", lambda d: d.file_id == bad_id)
    assert dl.error_kind == "bad_data"
    assert "gzip" in dl.reason
    assert dl.value_b64
    assert dl.partition is not None
    assert dl.offset is not None
    [dl2] = await pipeline.dead_letters("billing-files.dlq", lambda d: d.file_id == unknown_id)
    assert "unknown billing format" in dl2.reason

    # The worker is still alive: a good gzipped file afterwards lands in full.
    rows, total = _unblended_total(SAMPLE.read_bytes())
    good_id = await pipeline.upload("cur/good.csv.gz", gzip.compress(SAMPLE.read_bytes()))
    [receipt] = await pipeline.receipts(good_id)
    assert receipt.reconciled
    assert receipt.rows_landed == rows
    assert receipt.landed_totals == {"USD": total}


AWS = Path(__file__).parents[1] / "fixtures" / "aws"


async def test_cur2_parquet_with_empty_string_rates_lands_tax_credit_and_refund(pipeline: Pipeline) -> None:
    """CUR 2.0 Parquet writes absent rates as "": tax, credit and refund rows land and reconcile (issue 10)."""
    file_id = await pipeline.upload("cur2/2025-04/part-0.parquet", (AWS / "cur2_empty_strings.parquet").read_bytes())
    [receipt] = await pipeline.receipts(file_id)
    assert receipt.reconciled
    assert (receipt.rows_in, receipt.rows_landed, receipt.rows_rejected) == (15, 15, 0)
    assert receipt.source_totals == receipt.landed_totals == {"USD": Decimal("855.79")}
    assert receipt.warnings == []
    ch = connect(pipeline.settings.clickhouse_dsn)
    query = (
        "SELECT ChargeCategory, ifNull(ChargeClass, ''), count(), sum(BilledCost), "
        "countIf(ContractedUnitPrice IS NULL) "
        f"FROM {database_for(pipeline.tenant)}.focus WHERE x_FileId = {{fid:String}} "
        "AND ChargeCategory IN ('Tax', 'Credit') GROUP BY 1, 2 ORDER BY 1, 2"
    )
    rows = ch.call(lambda c: c.query(query, parameters={"fid": file_id}).result_rows)
    assert [(c, k, int(n), Decimal(s), int(null)) for c, k, n, s, null in rows] == [
        ("Credit", "", 2, Decimal("-5.52"), 2),  # promotional credit, EDP discount
        ("Credit", "Correction", 1, Decimal("-1.5"), 1),  # refund
        ("Tax", "", 1, Decimal("12.34"), 1),
    ]

    # Unreadable rates: optional ones land null and are counted in the receipt; a usage rate and a NaN
    # cost are rejected to the DLQ, naming the source column and its value.
    bad_id = await pipeline.upload("cur2/2025-04/part-1.parquet", (AWS / "cur2_bad_rates.parquet").read_bytes())
    [bad] = await pipeline.receipts(bad_id)
    assert bad.reconciled
    assert (bad.rows_in, bad.rows_landed, bad.rows_rejected) == (15, 13, 2)
    assert bad.landed_totals == {"USD": Decimal("856.264")}
    assert [(w.column, w.source, w.rows, w.sample) for w in bad.warnings] == [
        ("ContractedUnitPrice", "line_item_unblended_rate", 2, "-"),
        ("ListUnitPrice", "pricing_public_on_demand_rate", 2, "N/A"),
        ("PricingCurrencyContractedUnitPrice", "line_item_unblended_rate", 2, "-"),
        ("PricingCurrencyListUnitPrice", "pricing_public_on_demand_rate", 2, "N/A"),
    ]
    dead = await pipeline.dead_letters("focus-batches.dlq", lambda d: d.file_id == bad_id, count=2)
    assert sorted(d.rejected_row.reason for d in dead if d.rejected_row) == [
        "BilledCost: not a valid decimal value in line_item_unblended_cost: 'nan'",
        "ContractedUnitPrice: not a valid decimal value in line_item_unblended_rate: '0.O23'",
    ]
