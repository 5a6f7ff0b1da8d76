"""The GCP billing export read from BigQuery, one invoice month at a time (a fake of the BigQuery
REST API driven by the real ``google-cloud-bigquery`` SDK, rows through Arrow).

* The month is read three times while GCP adds rows and then corrections to it. The source has
  layout ``snapshot``: each read is one version of the billing period, swapped in whole. A poller
  reads the month's totals from ClickHouse the whole time: every reading equals one complete read
  (or the empty start), never a mix, and the last read is what stays visible.
* The standard export table and the FOCUS export table are read too, each detected by its table
  name and converted with its own format (``gcp-billing-export`` / FOCUS).
* ``sources add --check`` says what is wrong: a missing table, a table of unknown shape, a
  service-account key Google refuses, a service account without permission on the table.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.support.bigquery_fake import FakeBigQuery
from tests.support.stores import (
    Pipeline,
    add_store_source,
    landed,
    new_tenant,
    period_swaps,
    receipt_for,
    running_pipeline,
)

from cloudops.embedded.broker import EmbeddedBroker
from cloudops.service.context import Caller, InvalidInput
from cloudops.settings import Settings
from cloudops.sinks.clickhouse import connect, database_for
from cloudops.sinks.postgres.sources import get_source
from cloudops.sources.stores.bigquery import month_key

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).parents[1] / "fixtures" / "gcp" / "detailed_parquet.parquet"
SAMPLE_USD, SAMPLE_FOCUS_ROWS = Decimal("30.514716"), 22  # tests/fixtures/gcp/detailed_parquet.expected.json
PROJECT = "billing-admin"
TABLE = f"{PROJECT}.billing_export.gcp_billing_export_resource_v1_0123AB_456CDE_789EF0"


@pytest.fixture(scope="module")
def bq() -> Iterator[FakeBigQuery]:
    with FakeBigQuery() as server:
        yield server


@pytest.fixture
async def running(
    broker: EmbeddedBroker, chdb_dsn: str, postgres_db: str, tmp_path: Path, unique: str
) -> AsyncIterator[Pipeline]:
    async with running_pipeline(
        "bq",
        unique,
        tmp_path,
        broker,
        chdb_dsn,
        postgres_db,
        tenant=f"b{unique}",
        ingest={"schedule_tick_s": 0.5},
        load={"sweep_interval_s": 1.0},
    ) as p:
        yield p


async def _add_bq(caller: Caller, bq: FakeBigQuery, source_id: str, table: str, **kw: Any) -> Any:
    options = {"project": PROJECT, "location": "US", **kw.pop("options", {})}
    return await add_store_source(
        caller,
        source_id,
        provider="gcp",
        bucket=table,
        layout="snapshot",
        schedule_s=60,
        kind="bigquery",
        endpoint_url=bq.endpoint,
        options=options,
        **kw,
    )


def _batch(month: str, export_time: datetime, *, sign: int = 1) -> list[dict[str, Any]]:
    """The sample's rows as one export batch of ``month``; ``sign=-1``: their corrections (negated)."""
    rows = pq.read_table(SAMPLE).to_pylist()
    for r in rows:
        r["invoice"] = {**r["invoice"], "month": month}
        r["export_time"] = export_time
        r["cost"] = sign * r["cost"]
        r["credits"] = [{**c, "amount": sign * c["amount"]} for c in r["credits"] or []]
    return rows


class _Poller:
    def __init__(self, settings: Settings) -> None:
        self.sql = (
            f"SELECT count(), sum(BilledCost) FROM {database_for(settings.app.tenant)}.focus WHERE x_Source = 'gcp-bq'"
        )
        self.ch = connect(settings.clickhouse_dsn)
        self.readings: list[tuple[int, Decimal]] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _poll(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # the table appears with the first load
                n, cost = await self.ch.run(lambda c: c.query(self.sql).result_rows[0])
                self.readings.append((int(n or 0), Decimal(cost or 0)))
            await asyncio.sleep(0.02)

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task


async def test_open_month_read_three_times_only_last_read_visible_never_mixed(
    running: Pipeline, bq: FakeBigQuery, unique: str
) -> None:
    p = running
    settings, table = p.settings, f"{TABLE}_{unique}"
    month = datetime.now(UTC).strftime("%Y%m")
    t0 = datetime.now(UTC).replace(microsecond=123456) - timedelta(days=2)
    bq.create_table(table, pq.read_schema(SAMPLE))
    bq.append(table, _batch(month, t0))
    await _add_bq(p.caller, bq, "gcp-bq", table, check=True)
    reads = [
        (SAMPLE_FOCUS_ROWS, SAMPLE_USD),  # read 1: the first export batch
        (2 * SAMPLE_FOCUS_ROWS, 2 * SAMPLE_USD),  # read 2: late rows added (the batch again)
        (3 * SAMPLE_FOCUS_ROWS, SAMPLE_USD),  # read 3: corrections (the late rows negated)
    ]
    poller = _Poller(settings)
    poller.start()
    try:
        # Read 1 comes from the schedule timer; reads 2 and 3 from listing again after each export batch.
        assert (await period_swaps(settings, 1))[0].rows_landed == reads[0][0]
        bq.append(table, _batch(month, t0 + timedelta(hours=6)))
        assert await p.scan() == 1
        await period_swaps(settings, 2)
        bq.append(table, _batch(month, t0 + timedelta(hours=12), sign=-1))
        assert await p.scan() == 1
        done = await period_swaps(settings, 3)
    finally:
        await poller.stop()
    assert [(s.rows_landed, s.landed_totals) for s in done] == [(n, {"USD": usd}) for n, usd in reads]
    assert [s.replaced_version for s in done][1:] == [s.period_version for s in done][:2]
    assert str(done[-1].period) == f"{month[:4]}-{month[4:]}-01"
    assert poller.readings
    mixed = [r for r in poller.readings if r not in {(0, Decimal(0)), *reads}]
    assert not mixed, f"queries saw a mix of reads: {mixed[:5]}"
    assert await landed(settings, "gcp-bq") == reads[-1]
    assert await p.scan() == 0  # nothing new in the month: no fourth read


def _focus_rows(month_start: datetime, export_time: datetime) -> tuple[pa.Table, Decimal]:
    """Rows shaped like Google's FOCUS export table (gcp_billing_export_focus_*: FOCUS 1.2 columns with
    BigQuery types, x_ExportTime), and their BilledCost total."""
    nxt = (month_start + timedelta(days=32)).replace(day=1)
    costs = [Decimal("12.500000000"), Decimal("0.031611000"), Decimal("-1.250000000")]
    money = pa.decimal128(38, 9)
    ts = pa.timestamp("us", tz="UTC")
    kv = pa.list_(pa.struct([("Key", pa.string()), ("Value", pa.string())]))
    credit = pa.list_(
        pa.struct(
            [
                ("Name", pa.string()),
                ("Amount", money),
                ("FullName", pa.string()),
                ("Id", pa.string()),
                ("Type", pa.string()),
            ]
        )
    )
    schema = pa.schema(
        [
            ("BilledCost", money),
            ("EffectiveCost", money),
            ("ListCost", money),
            ("ContractedCost", money),
            ("BillingAccountId", pa.string()),
            ("BillingCurrency", pa.string()),
            ("BillingAccountType", pa.string()),
            ("BillingPeriodStart", ts),
            ("BillingPeriodEnd", ts),
            ("ChargePeriodStart", ts),
            ("ChargePeriodEnd", ts),
            ("ChargeCategory", pa.string()),
            ("ChargeClass", pa.string()),
            ("ChargeDescription", pa.string()),
            ("ConsumedQuantity", money),
            ("ConsumedUnit", pa.string()),
            ("PricingQuantity", money),
            ("PricingUnit", pa.string()),
            ("PricingCategory", pa.string()),
            ("PricingCurrency", pa.string()),
            ("ListUnitPrice", money),
            ("ContractedUnitPrice", money),
            ("ProviderName", pa.string()),
            ("PublisherName", pa.string()),
            ("InvoiceIssuerName", pa.string()),
            ("RegionId", pa.string()),
            ("RegionName", pa.string()),
            ("AvailabilityZone", pa.string()),
            ("ResourceId", pa.string()),
            ("ResourceName", pa.string()),
            ("ServiceName", pa.string()),
            ("ServiceCategory", pa.string()),
            ("SkuId", pa.string()),
            ("SkuPriceId", pa.string()),
            ("SubAccountId", pa.string()),
            ("SubAccountName", pa.string()),
            ("x_Credits", credit),
            ("x_CostType", pa.string()),
            ("x_ExportTime", ts),
            ("x_Labels", kv),
            ("x_ServiceId", pa.string()),
        ]
    )
    rows = []
    for i, cost in enumerate(costs):
        start = month_start + timedelta(days=i)
        usage = cost >= 0
        rows.append(
            {
                "BilledCost": cost,
                "EffectiveCost": cost,
                "ListCost": abs(cost),
                "ContractedCost": abs(cost),
                "BillingAccountId": "0123AB-456CDE-789EF0",
                "BillingCurrency": "USD",
                "BillingAccountType": "Billing Account",
                "BillingPeriodStart": month_start,
                "BillingPeriodEnd": nxt,
                "ChargePeriodStart": start,
                "ChargePeriodEnd": start + timedelta(days=1),
                "ChargeCategory": "Usage" if usage else "Credit",
                "ChargeClass": None,
                "ChargeDescription": "N1 Predefined Instance Core running in Americas",
                "ConsumedQuantity": Decimal("96") if usage else None,
                "ConsumedUnit": "Hours" if usage else None,
                "PricingQuantity": Decimal("96") if usage else None,
                "PricingUnit": "Hours" if usage else None,
                "PricingCategory": "Standard" if usage else None,
                "PricingCurrency": "USD",
                "ListUnitPrice": Decimal("0.031611") if usage else None,
                "ContractedUnitPrice": Decimal("0.031611") if usage else None,
                "ProviderName": "Google Cloud",
                "PublisherName": "Google Cloud",
                "InvoiceIssuerName": "Google Cloud",
                "RegionId": "us-central1",
                "RegionName": "Iowa",
                "AvailabilityZone": "us-central1-a",
                "ResourceId": f"//compute.googleapis.com/projects/shop-prod/zones/us-central1-a/instances/web-{i}",
                "ResourceName": f"web-{i}",
                "ServiceName": "Compute Engine",
                "ServiceCategory": "Compute",
                "SkuId": "2E27-4F75-95CD",
                "SkuPriceId": "2E27-4F75-95CD",
                "SubAccountId": "shop-prod",
                "SubAccountName": "Shop production",
                "x_Credits": [],
                "x_CostType": "regular",
                "x_ExportTime": export_time,
                "x_Labels": [{"Key": "team", "Value": "web"}],
                "x_ServiceId": "6F81-5844-456A",
            }
        )
    return pa.Table.from_pylist(rows, schema=schema), sum(costs, Decimal(0))


@pytest.mark.parametrize("variant", ["standard", "focus"])
async def test_standard_and_focus_export_tables_land_with_their_format(
    running: Pipeline, bq: FakeBigQuery, unique: str, variant: str
) -> None:
    """The variant comes from Google's table name; its month and export time columns and its format too."""
    p = running
    now = datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    exported = now.replace(microsecond=654321) - timedelta(hours=3)
    if variant == "standard":
        table = f"{PROJECT}.billing_export.gcp_billing_export_v1_0123AB_456CDE_789EF0_{unique}"
        detailed = pa.Table.from_pylist(_batch(now.strftime("%Y%m"), exported), schema=pq.read_schema(SAMPLE))
        rows = detailed.drop_columns(["resource", "price"])  # standard = detailed without resource / price
        expected, fmt = (SAMPLE_FOCUS_ROWS, SAMPLE_USD), "gcp-billing-export"
    else:
        table = f"{PROJECT}.gcp_billing_immutable_0123AB_456CDE_789EF0_us.gcp_billing_export_focus_0123AB_{unique}"
        rows, total = _focus_rows(month_start, exported)
        expected, fmt = (rows.num_rows, total), "focus-1.2"
    bq.create_table(table, rows.schema)
    bq.append(table, rows.to_pylist())
    await _add_bq(p.caller, bq, f"bq-{variant}", table, check=True)
    receipt = await receipt_for(p.settings, source_id=f"bq-{variant}")
    assert receipt.file_url == f"bq://{table}/{month_key('', now.strftime('%Y%m'))}"  # one object per month
    assert (receipt.format, receipt.reconciled, receipt.rows_in) == (fmt, True, rows.num_rows)
    [swap] = await period_swaps(p.settings, 1)  # the month's read swapped in whole
    assert (swap.source_id, swap.rows_landed, swap.landed_totals) == (
        f"bq-{variant}",
        expected[0],
        {"USD": expected[1]},
    )
    assert await landed(p.settings, f"bq-{variant}") == expected
    asked = [q for q in bq.queries if table in q]
    assert asked
    assert all(("x_ExportTime" in q and "BillingPeriodStart" in q) == (variant == "focus") for q in asked)


async def test_sources_add_check_says_what_is_wrong(
    bq: FakeBigQuery, postgres_db: str, tmp_path: Path, unique: str
) -> None:
    """`cloudops sources add --kind bigquery --check` (the service call the CLI and API share)."""
    caller = new_tenant(postgres_db, f"bc{unique}")
    table = f"{TABLE}_check_{unique}"
    bq.create_table(table, pq.read_schema(SAMPLE))
    bq.append(table, _batch(datetime.now(UTC).strftime("%Y%m"), datetime.now(UTC)))
    reader = f"reader-{unique}@{PROJECT}.iam.gserviceaccount.com"
    bq.grant(table, reader)
    ref: dict[str, str] = {}
    for name, doc in {
        "reader": bq.new_service_account(reader),
        "other": bq.new_service_account(f"other-{unique}@{PROJECT}.iam.gserviceaccount.com"),
        "revoked": bq.new_service_account(reader, registered=False),  # a deleted key of the same account
    }.items():
        (tmp_path / f"{name}.json").write_text(doc)
        ref[name] = f"file:{tmp_path / f'{name}.json'}"
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("bq-notable", f"{TABLE}_absent_{unique}", {"credentials_ref": ref["reader"]}, "not found"),
        ("bq-revoked", table, {"credentials_ref": ref["revoked"]}, r"credentials refused \(RefreshError\)"),
        ("bq-other", table, {"credentials_ref": ref["other"]}, "no permission .*Access Denied"),
        ("bq-anon", table, {}, "no permission"),
        ("bq-view", f"{PROJECT}.finops.my_focus_view", {}, "is not named like a billing export"),
        ("bq-badexport", table, {"options": {"export": "everything"}}, "export='everything': choose from"),
        ("bq-noref", table, {"credentials_ref": f"env:ABSENT_{unique}"}, "the variable is not set"),
    ]
    for source_id, bucket, kw, reason in cases:
        with pytest.raises(InvalidInput, match=f"cannot be listed: .*{reason}"):
            await _add_bq(caller, bq, source_id, bucket, check=True, **kw)
        assert get_source(postgres_db, caller.tenant or "", source_id) is None  # nothing saved
    made = await _add_bq(caller, bq, "bq-ok", table, check=True, credentials_ref=ref["reader"])
    assert made.kind == "bigquery"
    # A customer's FOCUS view under its own name: say which export it is.
    view = f"{PROJECT}.finops.my_focus_view_{unique}"
    rows, _ = _focus_rows(
        datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0), datetime.now(UTC)
    )
    bq.create_table(view, rows.schema)
    bq.append(view, rows.to_pylist())
    await _add_bq(caller, bq, "bq-view", view, check=True, options={"export": "focus"})
