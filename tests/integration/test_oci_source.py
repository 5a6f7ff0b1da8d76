"""OCI FOCUS reports read across tenancies from Oracle's ``bling`` namespace (a faithful fake of the
Object Storage REST API, the instance metadata service and the Auth Service federation endpoint,
driven by the real ``oci`` SDK over HTTP).

The customer's tenancy OCID names the bucket; only a principal of that tenancy may read it. With an
API signing key, and with the instance principal of the worker's OCI instance, the scheduled
listing finds a gzipped FOCUS report, which is converted, loaded into ClickHouse and reconciled.
``sources add --check`` says what is wrong: an unknown key, a missing bucket, a principal of
another tenancy, an instance the Auth Service does not trust.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from tests.support.oci_objectstorage import FakeOciObjectStorage, new_api_key, new_instance_identity
from tests.support.stores import Pipeline, add_store_source, landed, ledger_entry, receipt_for, running_pipeline

from cloudops.embedded.broker import EmbeddedBroker
from cloudops.schemas.events import file_id_for
from cloudops.service.context import InvalidInput
from cloudops.sinks.postgres.sources import SourceRecord, get_source

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
    broker: EmbeddedBroker, chdb_dsn: str, postgres_db: str, tmp_path: Path, unique: str
) -> AsyncIterator[Pipeline]:
    async with running_pipeline("oci", unique, tmp_path, broker, chdb_dsn, postgres_db, tenant=f"o{unique}") as p:
        yield p


def _tenancy() -> str:
    return f"ocid1.tenancy.oc1..{uuid.uuid4().hex}"


async def _add(
    p: Pipeline, oci_fake: FakeOciObjectStorage, source_id: str, tenancy: str, ref: str, **options: str
) -> SourceRecord:
    return await add_store_source(
        p.caller,
        source_id,
        provider="oci",
        bucket=tenancy,
        prefix="FOCUS Reports/",
        credentials_ref=ref,
        endpoint_url=oci_fake.endpoint,
        region="us-ashburn-1",
        schedule_s=60,
        kind="oci-object-storage",
        options={"namespace": "bling", **options},
        check=True,
    )


async def _lands(p: Pipeline, source_id: str, url: str, etag: str) -> None:
    file_id = file_id_for(p.tenant, url, etag, None)
    receipt = await receipt_for(p.settings, file_id)
    assert receipt.reconciled
    assert receipt.rows_landed == _EXPECTED["rows_in"]
    assert await landed(p.settings, source_id) == (_EXPECTED["focus_rows"], Decimal(_EXPECTED["billed_totals"]["EUR"]))
    entry = await ledger_entry(p.dsn, p.tenant, file_id)
    assert entry is not None
    assert (entry.state, entry.triggers) == ("reconciled", ["schedule"])


async def test_oci_focus_report_by_schedule_lands_reconciled(
    running: Pipeline, oci_fake: FakeOciObjectStorage, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = running
    tenancy = _tenancy()
    key = new_api_key(tenancy)
    oci_fake.register_key(key)
    oci_fake.create_bucket("bling", tenancy, readable_by=tenancy)  # Oracle's usage-report bucket of the tenancy
    monkeypatch.setenv(f"OCI_{unique}", json.dumps(key.config()))
    etag = oci_fake.put("bling", tenancy, KEY, SAMPLE.read_bytes())

    # What --check says, nothing saved: a key of another tenancy cannot see this tenancy's reports (OCI
    # answers "not found or not authorized"); a key OCI does not know; a tenancy without the bucket.
    stranger = new_api_key(_tenancy())
    oci_fake.register_key(stranger)
    monkeypatch.setenv(f"STRANGER_{unique}", json.dumps(stranger.config()))
    monkeypatch.setenv(f"UNKNOWN_{unique}", json.dumps(new_api_key(tenancy).config()))  # never registered
    cases = [
        ("oci-stranger", tenancy, f"env:STRANGER_{unique}", "BucketNotFound"),
        ("oci-unknown", tenancy, f"env:UNKNOWN_{unique}", r"refused the credentials \(NotAuthenticated\)"),
        ("oci-nobucket", _tenancy(), f"env:OCI_{unique}", "BucketNotFound"),
        ("oci-noref", tenancy, f"env:ABSENT_{unique}", f"env:ABSENT_{unique}: the variable is not set"),
    ]
    for source_id, bucket, ref, reason in cases:
        with pytest.raises(InvalidInput, match=f"cannot be listed: .*{reason}"):
            await _add(p, oci_fake, source_id, bucket, ref)
        assert get_source(p.dsn, p.tenant, source_id) is None

    await _add(p, oci_fake, "oci-focus", tenancy, f"env:OCI_{unique}")
    await _lands(p, "oci-focus", f"oci://{tenancy}/{KEY}", etag)
    # Every request the SDK made was signed and read Oracle's namespace; listing again finds nothing new.
    assert all(path.startswith("/n/bling/b/") for _, path in oci_fake.requests)
    assert await p.scan() == 0


async def test_instance_principal_reads_its_tenancy_reports(
    running: Pipeline, oci_fake: FakeOciObjectStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``credentials_ref oci-instance-principal:``: the SDK's InstancePrincipalsSecurityTokenSigner gets
    the instance's certificate from the metadata service, a security token from the federation
    endpoint, and signs every Object Storage request with the token's session key."""
    p = running
    tenancy = _tenancy()
    oci_fake.create_bucket("bling", tenancy, readable_by=tenancy)
    etag = oci_fake.put("bling", tenancy, KEY, SAMPLE.read_bytes())
    monkeypatch.setenv("OCI_METADATA_BASE_URL", oci_fake.metadata_base_url)
    # One signer per process and federation endpoint: each case gets its own endpoint URL.
    endpoint = f"{oci_fake.federation_endpoint}?test={uuid.uuid4().hex}"

    # An instance whose certificate the Auth Service does not trust gets no token.
    oci_fake.set_instance(new_instance_identity(tenancy), trusted=False)
    with pytest.raises(InvalidInput, match=r"cannot be listed: .*refused the credentials \(NotAuthenticated\)"):
        await _add(p, oci_fake, "oci-untrusted", tenancy, "oci-instance-principal:", federation_endpoint=endpoint)
    # No metadata service (not an OCI instance): a clear reason, not a hang.
    with monkeypatch.context() as m:
        m.setenv("OCI_METADATA_BASE_URL", "http://127.0.0.1:9/opc/v2")
        with pytest.raises(InvalidInput, match=r"instance metadata service .* cannot be reached"):
            await _add(p, oci_fake, "oci-nowhere", tenancy, "oci-instance-principal:", federation_endpoint=endpoint)

    oci_fake.set_instance(new_instance_identity(tenancy))
    issued = oci_fake.tokens_issued
    # An instance of this tenancy cannot read another tenancy's reports.
    other = _tenancy()
    oci_fake.create_bucket("bling", other, readable_by=other)
    with pytest.raises(InvalidInput, match="BucketNotFound"):
        await _add(p, oci_fake, "oci-other", other, "oci-instance-principal:", federation_endpoint=endpoint)

    made = await _add(p, oci_fake, "oci-ip", tenancy, "oci-instance-principal:", federation_endpoint=endpoint)
    assert made.credentials_ref == "oci-instance-principal:"
    await _lands(p, "oci-ip", f"oci://{tenancy}/{KEY}", etag)
    assert oci_fake.tokens_issued == issued + 1  # one token, reused by every check, listing and read
