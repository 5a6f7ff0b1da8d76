"""OCI FOCUS reports read across tenancies from Oracle's ``bling`` namespace (a faithful fake of the
Object Storage REST API, driven by the real ``oci`` SDK with an API signing key over HTTP).

The customer's tenancy OCID names the bucket; only a key of that tenancy may read it. The scheduled
listing finds a gzipped FOCUS report, which is converted, loaded into ClickHouse and reconciled;
``sources add --check`` with a key of another tenancy is refused with the reason.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.support.kafka import read_topic
from tests.support.oci_objectstorage import ApiKey, FakeOciObjectStorage, new_api_key
from tests.support.settings import local_settings

from cloudops.agents.schedule import scan_due_sources
from cloudops.app import create_app
from cloudops.embedded.broker import EmbeddedBroker
from cloudops.schemas.events import BillingLoaded, file_id_for
from cloudops.service import sources as sources_svc
from cloudops.service.context import Caller, InvalidInput
from cloudops.settings import Settings
from cloudops.sinks.clickhouse import connect, database_for
from cloudops.sinks.postgres import migrate
from cloudops.sinks.postgres.ledger import get_file
from cloudops.sinks.postgres.sources import get_source
from cloudops.sinks.postgres.tenants import register_tenant
from cloudops.topics.admin import ensure_topics
from cloudops.topics.codec import decode_record

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).parents[1] / "fixtures" / "oci" / "focus_export_v12.csv.gz"
_EXPECTED = json.loads(SAMPLE.with_name("focus_export_v12.expected.json").read_text())
KEY = "FOCUS Reports/2024/05/01/0001000001234567-00001.csv.gz"


@pytest.fixture(scope="module")
def oci_fake() -> Iterator[FakeOciObjectStorage]:
    with FakeOciObjectStorage() as server:
        yield server


@pytest.fixture
async def running(
    oci_fake: FakeOciObjectStorage,
    broker: EmbeddedBroker,
    chdb_dsn: str,
    postgres_db: str,
    tmp_path: Path,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[Settings, Any, ApiKey]]:
    tenant = f"o{unique}"
    migrate(postgres_db, tenant)
    register_tenant(postgres_db, tenant)
    tenancy = f"ocid1.tenancy.oc1..{uuid.uuid4().hex}"
    key = new_api_key(tenancy)
    oci_fake.register_key(key)
    oci_fake.create_bucket("bling", tenancy, readable_by=tenancy)  # Oracle's usage-report bucket of the tenancy
    monkeypatch.setenv(f"OCI_{unique}", json.dumps(key.config()))
    settings = local_settings(
        "oci",
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
        yield settings, rt, key
    finally:
        await app.stop()


async def test_oci_focus_report_by_schedule_lands_reconciled(
    running: tuple[Settings, Any, ApiKey], oci_fake: FakeOciObjectStorage, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, rt, key = running
    tenant, dsn = settings.app.tenant, settings.postgres.dsn or ""
    etag = oci_fake.put("bling", key.tenancy, KEY, SAMPLE.read_bytes())
    caller = Caller(actor="test:oci", tenant=tenant, settings=settings)

    # A key of another tenancy cannot read this tenancy's reports: refused, nothing saved.
    stranger = new_api_key(f"ocid1.tenancy.oc1..{uuid.uuid4().hex}")
    oci_fake.register_key(stranger)
    monkeypatch.setenv(f"STRANGER_{unique}", json.dumps(stranger.config()))

    def add(source_id: str, ref: str) -> Any:
        return asyncio.to_thread(  # a blocking service call, as the API makes it
            sources_svc.add_source,
            caller,
            source_id,
            provider="oci",
            bucket=key.tenancy,
            prefix="FOCUS Reports/",
            credentials_ref=ref,
            endpoint_url=oci_fake.endpoint,
            region="us-ashburn-1",
            schedule_s=60,
            kind="oci-object-storage",
            options={"namespace": "bling"},
            check=True,
        )

    with pytest.raises(InvalidInput, match="BucketNotFound"):
        await add("oci-stranger", f"env:STRANGER_{unique}")
    assert get_source(dsn, tenant, "oci-stranger") is None

    await add("oci-focus", f"env:OCI_{unique}")
    file_id = file_id_for(tenant, f"oci://{key.tenancy}/{KEY}", etag, None)

    def receipts(rs: list[Any]) -> list[BillingLoaded]:
        return [r for r in (decode_record(BillingLoaded, x.value) for x in rs) if r.file_id == file_id]

    [receipt] = receipts(await read_topic(settings.kafka.bootstrap_servers, "billing-loaded", until=receipts))
    assert receipt.reconciled
    assert receipt.rows_landed == _EXPECTED["rows_in"]
    sql = f"SELECT count(), sum(BilledCost) FROM {database_for(tenant)}.focus WHERE x_Source = 'oci-focus'"
    n, cost = await connect(settings.clickhouse_dsn).run(lambda c: c.query(sql).result_rows[0])
    assert (int(n), Decimal(cost)) == (_EXPECTED["focus_rows"], Decimal(_EXPECTED["billed_totals"]["EUR"]))
    for _ in range(100):
        entry = get_file(dsn, tenant, file_id)
        if entry is not None and entry.state == "reconciled":
            break
        await asyncio.sleep(0.1)
    assert entry is not None
    assert (entry.state, entry.triggers) == ("reconciled", ["schedule"])
    # Every request the SDK made was signed and read Oracle's namespace; listing again finds nothing new.
    assert all(path.startswith("/n/bling/b/") for _, path in oci_fake.requests)
    assert await scan_due_sources(rt, {}) == 0
