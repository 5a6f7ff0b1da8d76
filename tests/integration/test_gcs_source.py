"""A GCP billing export in Cloud Storage (gcp-storage-emulator), found by the scheduled listing.

The source is of kind ``gcs``: the real ``google-cloud-storage`` SDK lists the bucket over HTTP
(run off the event loop) and reads the object pinned to its generation; the file is converted,
loaded into ClickHouse and reconciled. A rewritten object (new generation) is announced once more.
``sources add --check`` says what is wrong: a missing bucket, a service-account key Google's token
service refuses (the OAuth endpoint of the BigQuery fake: the emulator itself checks no
credentials, so no-permission cannot be shown here), a key reference that is not a key.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage  # type: ignore[import-untyped,attr-defined]
from tests.support.bigquery_fake import FakeBigQuery
from tests.support.cloud_storage import GcsEmulator
from tests.support.stores import Pipeline, add_store_source, landed, ledger_entry, receipt_for, running_pipeline

from cloudops.embedded.broker import EmbeddedBroker
from cloudops.schemas.events import file_id_for
from cloudops.service.context import InvalidInput
from cloudops.sinks.postgres.sources import SourceRecord, get_source

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).parents[1] / "fixtures" / "gcp" / "detailed_csv.csv"
_EXPECTED = json.loads(SAMPLE.with_name("detailed_csv.expected.json").read_text())


@pytest.fixture(scope="module")
def gcs() -> Iterator[GcsEmulator]:
    with GcsEmulator() as server:
        yield server


@pytest.fixture
async def running(
    broker: EmbeddedBroker, chdb_dsn: str, postgres_db: str, tmp_path: Path, unique: str
) -> AsyncIterator[Pipeline]:
    async with running_pipeline("gcs", unique, tmp_path, broker, chdb_dsn, postgres_db, tenant=f"g{unique}") as p:
        yield p


def _client(gcs: GcsEmulator) -> storage.Client:
    return storage.Client(
        project="billing", credentials=AnonymousCredentials(), client_options={"api_endpoint": gcs.url}
    )


async def _add(p: Pipeline, gcs: GcsEmulator, source_id: str, bucket: str, ref: str | None = None) -> SourceRecord:
    return await add_store_source(
        p.caller,
        source_id,
        provider="gcp",
        bucket=bucket,
        prefix="gcp/",
        credentials_ref=ref,
        schedule_s=60,
        kind="gcs",
        endpoint_url=gcs.url,
        options={"project": "billing"},
        check=True,
    )


async def test_gcs_export_by_schedule_lands_reconciled(
    running: Pipeline, gcs: GcsEmulator, tmp_path: Path, unique: str
) -> None:
    p = running
    bucket, key = f"billing-{unique}", "gcp/2024-05/billing_export.csv"
    blob = _client(gcs).create_bucket(bucket).blob(key)
    await asyncio.to_thread(blob.upload_from_filename, str(SAMPLE))

    with FakeBigQuery() as google:  # only its OAuth token endpoint: a key Google does not know
        (tmp_path / "revoked.json").write_text(
            google.new_service_account("gone@billing.iam.gserviceaccount.com", registered=False)
        )
        (tmp_path / "not-a-key.json").write_text('{"type": "authorized_user"}')
        cases = [
            ("gcs-nobucket", f"absent-{unique}", None, "not found"),
            ("gcs-revoked", bucket, f"file:{tmp_path / 'revoked.json'}", r"credentials refused \(RefreshError\)"),
            ("gcs-notakey", bucket, f"file:{tmp_path / 'not-a-key.json'}", "is not a service-account key"),
            ("gcs-noref", bucket, f"env:ABSENT_{unique}", "the variable is not set"),
        ]
        for source_id, where, ref, reason in cases:
            with pytest.raises(InvalidInput, match=f"cannot be listed: .*{reason}"):
                await _add(p, gcs, source_id, where, ref)
            assert get_source(p.dsn, p.tenant, source_id) is None  # nothing saved

    await _add(p, gcs, "gcs-main", bucket)
    listed = await asyncio.to_thread(_client(gcs).get_bucket(bucket).get_blob, key)
    file_id = file_id_for(p.tenant, f"gs://{bucket}/{key}", listed.etag.strip('"'), str(listed.generation))
    receipt = await receipt_for(p.settings, file_id)
    assert receipt.reconciled
    assert receipt.rows_landed == _EXPECTED["rows_in"]
    assert await landed(p.settings, "gcs-main") == (_EXPECTED["focus_rows"], Decimal(_EXPECTED["billed_totals"]["USD"]))
    entry = await ledger_entry(p.dsn, p.tenant, file_id)
    assert entry is not None
    assert (entry.state, entry.triggers) == ("reconciled", ["schedule"])

    # Listing again announces nothing; a new generation of the object is announced once.
    assert await p.scan() == 0
    await asyncio.to_thread(blob.upload_from_string, SAMPLE.read_bytes() + b"\n")
    assert await p.scan() == 1
