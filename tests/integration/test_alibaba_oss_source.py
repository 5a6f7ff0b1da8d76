"""Alibaba Cloud bill files from OSS (a faithful fake of the OSS REST API that checks signature V4,
driven by the real ``alibabacloud-oss-v2`` SDK over HTTP).

The billing "storage" subscription delivers a zip of CSV parts of the billing-item detail; the
scheduled listing finds it, and it is converted, loaded into ClickHouse and reconciled. Another
account's AccessKey is refused by ``sources add --check`` with the reason.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.support.alibaba_oss import FakeOss
from tests.support.kafka import read_topic
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
SAMPLE = Path(__file__).parents[1] / "fixtures" / "alibaba" / "billing_item_detail_parts.zip"
_EXPECTED = json.loads(SAMPLE.with_name("billing_item_detail_parts.expected.json").read_text())
KEY = "bills/1234567890123456_BillingItemDetail_202405.zip"


@pytest.fixture(scope="module")
def oss() -> Iterator[FakeOss]:
    with FakeOss(region="cn-hangzhou") as server:
        yield server


@pytest.fixture
async def running(
    oss: FakeOss,
    broker: EmbeddedBroker,
    chdb_dsn: str,
    postgres_db: str,
    tmp_path: Path,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[Settings, Any]]:
    tenant = f"a{unique}"
    migrate(postgres_db, tenant)
    register_tenant(postgres_db, tenant)
    for who in ("OWNER", "OTHER"):
        oss.add_access_key(f"LTAI{who}{unique}", f"secret-{who}-{unique}")
        monkeypatch.setenv(f"ALI_{who}_{unique}_ACCESS_KEY_ID", f"LTAI{who}{unique}")
        monkeypatch.setenv(f"ALI_{who}_{unique}_SECRET_ACCESS_KEY", f"secret-{who}-{unique}")
    oss.create_bucket(f"bills-{unique}", owner=f"LTAIOWNER{unique}")
    settings = local_settings(
        "oss",
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


async def test_oss_bill_zip_by_schedule_lands_reconciled(
    running: tuple[Settings, Any], oss: FakeOss, unique: str
) -> None:
    settings, rt = running
    tenant, dsn = settings.app.tenant, settings.postgres.dsn or ""
    bucket = f"bills-{unique}"
    etag = oss.put(bucket, KEY, SAMPLE.read_bytes())
    caller = Caller(actor="test:oss", tenant=tenant, settings=settings)

    def add(source_id: str, who: str) -> Any:
        return asyncio.to_thread(  # a blocking service call, as the API makes it
            sources_svc.add_source,
            caller,
            source_id,
            provider="alibaba",
            bucket=bucket,
            prefix="bills/",
            credentials_ref=f"env:ALI_{who}_{unique}",
            endpoint_url=oss.endpoint,
            region="cn-hangzhou",
            schedule_s=60,
            kind="alibaba-oss",
            options={"path_style": "true"},
            check=True,
        )

    with pytest.raises(InvalidInput, match="AccessDenied"):
        await add("oss-other", "OTHER")
    assert get_source(dsn, tenant, "oss-other") is None

    await add("oss-bills", "OWNER")
    file_id = file_id_for(tenant, f"oss://{bucket}/{KEY}", etag, None)

    def receipts(rs: list[Any]) -> list[BillingLoaded]:
        return [r for r in (decode_record(BillingLoaded, x.value) for x in rs) if r.file_id == file_id]

    [receipt] = receipts(await read_topic(settings.kafka.bootstrap_servers, "billing-loaded", until=receipts))
    assert receipt.reconciled
    assert receipt.rows_landed == _EXPECTED["rows_in"]
    sql = f"SELECT count(), sum(BilledCost) FROM {database_for(tenant)}.focus WHERE x_Source = 'oss-bills'"
    n, cost = await connect(settings.clickhouse_dsn).run(lambda c: c.query(sql).result_rows[0])
    assert (int(n), Decimal(cost)) == (_EXPECTED["focus_rows"], Decimal(_EXPECTED["billed_totals"]["USD"]))
    for _ in range(100):
        entry = get_file(dsn, tenant, file_id)
        if entry is not None and entry.state == "reconciled":
            break
        await asyncio.sleep(0.1)
    assert entry is not None
    assert (entry.state, entry.triggers) == ("reconciled", ["schedule"])
    assert await scan_due_sources(rt, {}) == 0
