"""A GCP billing export in Cloud Storage (gcp-storage-emulator), found by the scheduled listing.

The source is of kind ``gcs``: the real ``google-cloud-storage`` SDK lists the bucket over HTTP
(run off the event loop) and reads the object pinned to its generation; the file is converted,
loaded into ClickHouse and reconciled. A rewritten object (new generation) is announced once more.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage  # type: ignore[import-untyped,attr-defined]
from tests.support.cloud_storage import GcsEmulator
from tests.support.kafka import read_topic
from tests.support.settings import local_settings

from cloudops.agents.schedule import scan_due_sources
from cloudops.app import create_app
from cloudops.embedded.broker import EmbeddedBroker
from cloudops.schemas.events import BillingLoaded, file_id_for
from cloudops.settings import Settings
from cloudops.sinks.clickhouse import connect, database_for
from cloudops.sinks.postgres import migrate
from cloudops.sinks.postgres.ledger import add_source, get_file
from cloudops.sinks.postgres.sources import SourceRecord, get_source, upsert_source
from cloudops.topics.admin import ensure_topics
from cloudops.topics.codec import decode_record

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).parents[1] / "fixtures" / "gcp" / "detailed_csv.csv"
_EXPECTED = json.loads(SAMPLE.with_name("detailed_csv.expected.json").read_text())


@pytest.fixture(scope="module")
def gcs() -> Iterator[GcsEmulator]:
    with GcsEmulator() as server:
        yield server


@pytest.fixture
async def running(
    gcs: GcsEmulator, broker: EmbeddedBroker, chdb_dsn: str, postgres_db: str, tmp_path: Path, unique: str
) -> AsyncIterator[tuple[Settings, Any]]:
    tenant = f"g{unique}"
    migrate(postgres_db, tenant)
    settings = local_settings(
        "gcs",
        unique,
        tmp_path,
        broker,
        chdb_dsn,
        tenant=tenant,
        postgres_dsn=postgres_db,
        ingest={"schedule_tick_s": 0.5},
    )
    await ensure_topics(settings.kafka)
    app, rt = create_app(settings)
    await app.start()
    try:
        yield settings, rt
    finally:
        await app.stop()


def _client(gcs: GcsEmulator) -> storage.Client:
    return storage.Client(
        project="billing", credentials=AnonymousCredentials(), client_options={"api_endpoint": gcs.url}
    )


async def test_gcs_export_by_schedule_lands_reconciled(
    running: tuple[Settings, Any], gcs: GcsEmulator, unique: str
) -> None:
    settings, rt = running
    tenant, dsn = settings.app.tenant, settings.postgres.dsn or ""
    bucket, key = f"billing-{unique}", "gcp/2024-05/billing_export.csv"
    blob = _client(gcs).create_bucket(bucket).blob(key)
    await asyncio.to_thread(blob.upload_from_filename, str(SAMPLE))
    add_source(dsn, tenant, id="gcs-main", provider="gcp", bucket=bucket, prefix="gcp/", schedule_s=60)
    current = get_source(dsn, tenant, "gcs-main")
    assert current is not None
    upsert_source(
        dsn,
        tenant,
        SourceRecord(
            **{**current.as_dict(), "kind": "gcs", "endpoint_url": gcs.url, "options": {"project": "billing"}}
        ),
    )
    listed = await asyncio.to_thread(_client(gcs).get_bucket(bucket).get_blob, key)
    file_id = file_id_for(tenant, f"gs://{bucket}/{key}", listed.etag.strip('"'), str(listed.generation))

    def receipts(rs: list[Any]) -> list[BillingLoaded]:
        return [r for r in (decode_record(BillingLoaded, x.value) for x in rs) if r.file_id == file_id]

    [receipt] = receipts(await read_topic(settings.kafka.bootstrap_servers, "billing-loaded", until=receipts))
    assert receipt.reconciled
    assert receipt.rows_landed == _EXPECTED["rows_in"]
    db = database_for(tenant)
    sql = f"SELECT count(), sum(BilledCost) FROM {db}.focus WHERE x_Source = 'gcs-main'"
    n, cost = await connect(settings.clickhouse_dsn).run(lambda c: c.query(sql).result_rows[0])
    assert (int(n), Decimal(cost)) == (_EXPECTED["focus_rows"], Decimal(_EXPECTED["billed_totals"]["USD"]))
    for _ in range(100):
        entry = get_file(dsn, tenant, file_id)
        if entry is not None and entry.state == "reconciled":
            break
        await asyncio.sleep(0.1)
    assert entry is not None
    assert (entry.state, entry.triggers) == ("reconciled", ["schedule"])

    # Listing again announces nothing; a new generation of the object is announced once.
    assert await scan_due_sources(rt, {}) == 0
    await asyncio.to_thread(blob.upload_from_string, SAMPLE.read_bytes() + b"\n")
    assert await scan_due_sources(rt, {}) == 1
