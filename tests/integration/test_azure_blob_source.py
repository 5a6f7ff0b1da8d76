"""Azure Cost Management exports read from Azure Blob Storage (Azurite), by schedule and by event.

A real EA actual-cost export (tests/fixtures/azure/ea_actual_small.csv, Microsoft's FinOps toolkit
sample) is written to Azurite the way Cost Management writes it, read by the real
``azure-storage-blob`` SDK, converted, loaded into ClickHouse and reconciled:

* by schedule: a partitioned export (data part + ``manifest.json``) under a source of kind
  ``azure-blob`` with layout ``manifest``: the scheduled listing finds the manifest, its version of
  September 2023 is swapped in whole;
* by event: an Event Grid ``Microsoft.Storage.BlobCreated`` event (CloudEvents schema, Base64 like
  Event Grid's queue delivery) on an Azurite Storage Queue, read by the bridge; a second event for a
  container no source owns is dead-lettered with the reason.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import ContainerSasPermissions, generate_container_sas
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueClient
from tests.support.cloud_storage import AZURITE_ACCOUNT, AZURITE_KEY, AzuriteServer
from tests.support.kafka import read_topic
from tests.support.services import ServiceUnavailable
from tests.support.stores import (
    Pipeline,
    add_store_source,
    landed,
    ledger_entry,
    new_tenant,
    period_swaps,
    receipt_for,
    running_pipeline,
)

from cloudops.embedded.broker import EmbeddedBroker
from cloudops.schemas.events import file_id_for
from cloudops.service import sources as sources_svc
from cloudops.service.context import Caller, InvalidInput
from cloudops.sinks.postgres.ledger import get_file, list_files
from cloudops.sinks.postgres.sources import SourceRecord, get_source

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).parents[1] / "fixtures" / "azure" / "ea_actual_small.csv"
SAMPLE_ROWS, SAMPLE_USD = 11, Decimal("8.5450077867")  # tests/fixtures/azure/ea_actual_small.expected.json
RUN_ID = "5a0e2c1b-7d7f-4c1e-9f55-2e9b1c0d3a11"
PERIOD_DIR = "exports/daily-actual/20230901-20230930"


@pytest.fixture(scope="module")
def azurite() -> Iterator[AzuriteServer]:
    try:
        server = AzuriteServer().start()
    except ServiceUnavailable as exc:
        pytest.skip(f"no Azurite: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def running(
    azurite: AzuriteServer,
    broker: EmbeddedBroker,
    chdb_dsn: str,
    postgres_db: str,
    tmp_path: Path,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[Pipeline, str]]:
    """The pipeline with one tenant; the storage account's key behind ``env:AZ_<unique>``."""
    ref = f"AZ_{unique.upper()}"
    monkeypatch.setenv(f"{ref}_ACCESS_KEY_ID", AZURITE_ACCOUNT)
    monkeypatch.setenv(f"{ref}_SECRET_ACCESS_KEY", AZURITE_KEY)
    queue = f"blob-events-{unique}"
    async with QueueClient.from_queue_url(f"{azurite.queue_url}/{queue}", credential=azurite.credential) as q:
        await q.create_queue()
    async with running_pipeline(
        "azure",
        unique,
        tmp_path,
        broker,
        chdb_dsn,
        postgres_db,
        tenant=f"az{unique}",
        ingest={"schedule_tick_s": 0.5},
        load={"sweep_interval_s": 1.0},
        azure={
            "queue_urls": f"{azurite.queue_url}/{queue}",
            "queue_credentials_ref": f"env:{ref}",
            "queue_poll_s": 0.2,
        },
    ) as p:
        yield p, f"env:{ref}"


async def _azure_source(
    caller: Caller, source_id: str, container: str, ref: str | None, endpoint: str, **kw: Any
) -> SourceRecord:
    fields: dict[str, Any] = {"endpoint_url": endpoint, "options": {"dataset": "actual"}, **kw}
    return await add_store_source(
        caller,
        source_id,
        provider="azure",
        bucket=container,
        prefix="exports/",
        kind="azure-blob",
        credentials_ref=ref,
        **fields,
    )


def _manifest(container: str, blob_name: str, size: int, *, run_id: str = RUN_ID, kind: str = "ActualCost") -> bytes:
    """A Cost Management partitioned-export manifest.json (shape of API version 2023-07-01-preview)."""
    return json.dumps(
        {
            "manifestVersion": "2024-04-01",
            "dataFormat": "Csv",
            "byteCount": size,
            "blobCount": 1,
            "dataRowCount": SAMPLE_ROWS,
            "exportConfig": {
                "exportName": "daily-actual",
                "resourceId": "/subscriptions/00000000-0000-0000-0000-000000000000/providers/"
                "Microsoft.CostManagement/exports/daily-actual",
                "dataVersion": "2021-10-01",
                "apiVersion": "2023-07-01-preview",
                "type": kind,
                "timeFrame": "MonthToDate",
                "granularity": "Daily",
            },
            "deliveryConfig": {
                "partitionData": True,
                "dataOverwriteBehavior": "OverwritePreviousReport",
                "fileFormat": "Csv",
                "containerUri": f"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
                f"Microsoft.Storage/storageAccounts/{AZURITE_ACCOUNT}",
                "rootFolderPath": "exports",
            },
            "runInfo": {
                "executionType": "Scheduled",
                "submittedTime": "2023-10-01T04:12:09.8523214Z",
                "runId": run_id,
                "startDate": "2023-09-01T00:00:00",
                "endDate": "2023-09-30T00:00:00",
            },
            "blobs": [{"blobName": blob_name, "byteCount": size, "dataRowCount": SAMPLE_ROWS}],
        }
    ).encode()


async def test_partitioned_export_by_schedule_lands_reconciled(
    running: tuple[Pipeline, str], azurite: AzuriteServer, unique: str
) -> None:
    p, ref = running
    settings, tenant, dsn = p.settings, p.tenant, p.dsn
    container = f"costs-{unique}"
    part = f"{PERIOD_DIR}/{RUN_ID}/part_0_0001.csv"
    body = SAMPLE.read_bytes()
    async with BlobServiceClient(azurite.blob_url, credential=azurite.credential) as svc:
        c = await svc.create_container(container)
        await c.upload_blob(part, body)
        await c.upload_blob(f"{PERIOD_DIR}/{RUN_ID}/manifest.json", _manifest(container, part, len(body)))
        # The same month's amortised-cost export beside it: the source reads "actual", so it is skipped.
        amortized = SAMPLE.with_name("ea_amortized_small.csv").read_bytes()
        other = "exports/daily-amortized/20230901-20230930/run-2/part_0_0001.csv"
        await c.upload_blob(other, amortized)
        await c.upload_blob(
            "exports/daily-amortized/20230901-20230930/run-2/manifest.json",
            _manifest(container, other, len(amortized), run_id="run-2", kind="AmortizedCost"),
        )
    await _azure_source(p.caller, "az-sched", container, ref, azurite.blob_url, layout="manifest", schedule_s=60)
    [swap] = await period_swaps(settings, 1)
    assert (swap.source_id, swap.period_version, str(swap.period)) == ("az-sched", RUN_ID, "2023-09-01")
    assert (swap.rows_landed, swap.landed_totals) == (SAMPLE_ROWS, {"USD": SAMPLE_USD})
    assert await landed(settings, "az-sched") == (SAMPLE_ROWS, SAMPLE_USD)
    data_id = file_id_for(tenant, f"az://{container}/{part}", None, None, RUN_ID)
    entry = get_file(dsn, tenant, data_id)
    assert entry is not None
    assert entry.state == "reconciled"
    assert entry.landed_totals == {"USD": str(SAMPLE_USD)}
    skipped_url = f"az://{container}/exports/daily-amortized/20230901-20230930/run-2/manifest.json"
    for _ in range(100):
        states = {f.url: (f.state, f.last_error or "") for f in list_files(dsn, tenant)}
        if states.get(skipped_url, ("",))[0] == "rejected":
            break
        await asyncio.sleep(0.1)
    assert states[skipped_url][1].startswith("export holds the amortized dataset; this source reads actual")
    assert states[f"az://{container}/{PERIOD_DIR}/{RUN_ID}/manifest.json"][0] == "reconciled"
    amortized_part = f"az://{container}/exports/daily-amortized/20230901-20230930/run-2/part_0_0001.csv"
    assert states.get(amortized_part, ("seen",))[0] == "seen"  # listed, but no manifest of "actual" names it
    assert await landed(settings, "az-sched") == (SAMPLE_ROWS, SAMPLE_USD)  # never counted twice


async def test_blob_created_event_on_storage_queue_lands_reconciled(
    running: tuple[Pipeline, str], azurite: AzuriteServer, unique: str
) -> None:
    p, ref = running
    settings, tenant, dsn = p.settings, p.tenant, p.dsn
    container = f"events-{unique}"
    key = "exports/monthly-actual/20230901-20230930/ActualCost_20230901-20230930.csv"
    async with BlobServiceClient(azurite.blob_url, credential=azurite.credential) as svc:
        c = await svc.create_container(container)
        blob = await c.upload_blob(key, SAMPLE.read_bytes())
        etag = str((await blob.get_blob_properties()).etag).strip('"')
    await _azure_source(p.caller, "az-events", container, ref, azurite.blob_url)

    def cloud_event(container: str, name: str) -> str:
        doc = {
            "specversion": "1.0",
            "type": "Microsoft.Storage.BlobCreated",
            "source": "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct",
            "id": f"evt-{name}",
            "time": "2023-10-01T04:12:10.1234567Z",
            "subject": f"/blobServices/default/containers/{container}/blobs/{name}",
            "data": {
                "api": "PutBlob",
                "eTag": etag,
                "contentLength": SAMPLE.stat().st_size,
                "blobType": "BlockBlob",
                "url": f"{azurite.blob_url}/{container}/{name}",
            },
        }
        return base64.b64encode(json.dumps(doc).encode()).decode()

    queue_url = settings.azure.queue_urls or ""
    async with QueueClient.from_queue_url(queue_url, credential=azurite.credential) as q:
        await q.send_message(cloud_event(container, key))
        await q.send_message(cloud_event(f"nobody-{unique}", "exports/x.csv"))

    file_id = file_id_for(tenant, f"az://{container}/{key}", etag, None)
    receipt = await receipt_for(settings, file_id)
    assert receipt.reconciled
    assert receipt.rows_landed == SAMPLE_ROWS
    assert await landed(settings, "az-events") == (SAMPLE_ROWS, SAMPLE_USD)
    entry = await ledger_entry(dsn, tenant, file_id)
    assert entry is not None
    assert (entry.state, entry.triggers) == ("reconciled", ["azure-event"])

    def unroutable(rs: list[Any]) -> list[Any]:
        return [r for r in rs if f"nobody-{unique}".encode() in (r.value or b"")]

    [dead] = unroutable(
        await read_topic(settings.kafka.bootstrap_servers, "billing-files.dlq", until=unroutable, timeout=60)
    )
    assert b"matches no source" in dead.value
    async with QueueClient.from_queue_url(queue_url, credential=azurite.credential) as q:
        assert (await q.get_queue_properties()).approximate_message_count == 0  # handled messages are deleted


async def test_sources_add_check_lists_once_and_says_what_is_wrong(
    azurite: AzuriteServer, postgres_db: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cloudops sources add --kind azure-blob --check` (the service call the CLI and API share)."""
    caller = new_tenant(postgres_db, f"ck{unique}")
    monkeypatch.setenv(f"GOOD_{unique}_ACCESS_KEY_ID", AZURITE_ACCOUNT)
    monkeypatch.setenv(f"GOOD_{unique}_SECRET_ACCESS_KEY", AZURITE_KEY)
    monkeypatch.setenv(f"BAD_{unique}_ACCESS_KEY_ID", AZURITE_ACCOUNT)
    monkeypatch.setenv(f"BAD_{unique}_SECRET_ACCESS_KEY", base64.b64encode(b"not the key").decode())
    container = f"check-{unique}"
    async with BlobServiceClient(azurite.blob_url, credential=azurite.credential) as svc:
        c = await svc.create_container(container)
        await c.upload_blob("exports/a.csv", b"x")
        await c.upload_blob("exports/b.csv", b"y")
    # A SAS that may write blobs but not list them (what an export's delivery identity holds).
    write_only = generate_container_sas(
        AZURITE_ACCOUNT,
        container,
        account_key=AZURITE_KEY,
        permission=ContainerSasPermissions(write=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )

    async def add(source_id: str, ref: str | None, bucket: str = container, **kw: Any) -> SourceRecord:
        return await _azure_source(caller, source_id, bucket, ref, azurite.blob_url, check=True, **kw)

    made = await add("az-good", f"env:GOOD_{unique}")
    assert (made.kind, made.options) == ("azure-blob", {"dataset": "actual"})
    assert await asyncio.to_thread(sources_svc.check_source, caller, "az-good") == 2
    cases: list[tuple[str, str | None, str, dict[str, Any], str]] = [
        ("az-badkey", f"env:BAD_{unique}", container, {}, r"not authorized \(AuthorizationFailure\)"),
        ("az-nokey", f"env:MISSING_{unique}", container, {}, f"MISSING_{unique}_ACCESS_KEY_ID"),
        ("az-nobox", f"env:GOOD_{unique}", f"absent-{unique}", {}, "ContainerNotFound"),
        (
            "az-nolist",
            None,
            container,
            {"endpoint_url": f"{azurite.blob_url}?{write_only}"},
            r"no permission \(AuthorizationPermissionMismatch\)",
        ),
    ]
    for source_id, ref, bucket, kw, reason in cases:
        with pytest.raises(InvalidInput, match=f"cannot be listed: .*{reason}"):
            await add(source_id, ref, bucket, **kw)
        assert get_source(postgres_db, caller.tenant or "", source_id) is None  # nothing saved
    with pytest.raises(InvalidInput, match="dataset"):
        await add("az-ds", f"env:GOOD_{unique}", options={"dataset": "everything"})
    with pytest.raises(InvalidInput, match=r"credentials_ref is one of: env:\.\.\., file:\.\.\.$"):
        await add("az-role", "aws-role:arn:aws:iam::123456789012:role/billing")  # an AWS role means nothing here
