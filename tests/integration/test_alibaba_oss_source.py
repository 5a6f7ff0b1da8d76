"""Alibaba Cloud bill files from OSS (a faithful fake of the OSS REST API that checks signature V4,
driven by the real ``alibabacloud-oss-v2`` SDK over HTTP).

The billing "storage" subscription delivers a zip of CSV parts of the billing-item detail; the
scheduled listing finds it, and it is converted, loaded into ClickHouse and reconciled.
``sources add --check`` says what is wrong: another account's AccessKey (no permission), an
unknown AccessKey or a wrong secret (credentials refused), a missing bucket, a missing reference.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from tests.support.alibaba_oss import FakeOss
from tests.support.stores import Pipeline, add_store_source, landed, ledger_entry, receipt_for, running_pipeline

from cloudops.embedded.broker import EmbeddedBroker
from cloudops.schemas.events import file_id_for
from cloudops.service.context import InvalidInput
from cloudops.sinks.postgres.sources import SourceRecord, get_source

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
) -> AsyncIterator[Pipeline]:
    for who in ("OWNER", "OTHER"):
        oss.add_access_key(f"LTAI{who}{unique}", f"secret-{who}-{unique}")
        monkeypatch.setenv(f"ALI_{who}_{unique}_ACCESS_KEY_ID", f"LTAI{who}{unique}")
        monkeypatch.setenv(f"ALI_{who}_{unique}_SECRET_ACCESS_KEY", f"secret-{who}-{unique}")
    monkeypatch.setenv(f"ALI_UNKNOWN_{unique}_ACCESS_KEY_ID", f"LTAIUNKNOWN{unique}")  # never issued
    monkeypatch.setenv(f"ALI_UNKNOWN_{unique}_SECRET_ACCESS_KEY", "whatever")
    monkeypatch.setenv(f"ALI_WRONG_{unique}_ACCESS_KEY_ID", f"LTAIOWNER{unique}")
    monkeypatch.setenv(f"ALI_WRONG_{unique}_SECRET_ACCESS_KEY", "not-the-secret")
    oss.create_bucket(f"bills-{unique}", owner=f"LTAIOWNER{unique}")
    async with running_pipeline("oss", unique, tmp_path, broker, chdb_dsn, postgres_db, tenant=f"a{unique}") as p:
        yield p


async def _add(p: Pipeline, oss: FakeOss, source_id: str, who: str, bucket: str, unique: str) -> SourceRecord:
    return await add_store_source(
        p.caller,
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


async def test_oss_bill_zip_by_schedule_lands_reconciled(running: Pipeline, oss: FakeOss, unique: str) -> None:
    p = running
    bucket = f"bills-{unique}"
    etag = oss.put(bucket, KEY, SAMPLE.read_bytes())

    cases = [
        ("oss-other", "OTHER", bucket, r"no permission \(AccessDenied\)"),
        ("oss-unknown", "UNKNOWN", bucket, r"refused the credentials \(InvalidAccessKeyId\)"),
        ("oss-wrong", "WRONG", bucket, r"refused the credentials \(SignatureDoesNotMatch\)"),
        ("oss-nobucket", "OWNER", f"absent-{unique}", "NoSuchBucket"),
        ("oss-noref", "ABSENT", bucket, f"ALI_ABSENT_{unique}_ACCESS_KEY_ID"),
    ]
    for source_id, who, where, reason in cases:
        with pytest.raises(InvalidInput, match=f"cannot be listed: .*{reason}"):
            await _add(p, oss, source_id, who, where, unique)
        assert get_source(p.dsn, p.tenant, source_id) is None  # nothing saved

    await _add(p, oss, "oss-bills", "OWNER", bucket, unique)
    file_id = file_id_for(p.tenant, f"oss://{bucket}/{KEY}", etag, None)
    receipt = await receipt_for(p.settings, file_id)
    assert receipt.reconciled
    assert receipt.rows_landed == _EXPECTED["rows_in"]
    assert await landed(p.settings, "oss-bills") == (
        _EXPECTED["focus_rows"],
        Decimal(_EXPECTED["billed_totals"]["USD"]),
    )
    entry = await ledger_entry(p.dsn, p.tenant, file_id)
    assert entry is not None
    assert (entry.state, entry.triggers) == ("reconciled", ["schedule"])
    assert await p.scan() == 0
