"""FOCUS 1.3 files through the whole pipeline: Cost and Usage with the 1.3 columns into ``focus``,
the 1.3 Contract Commitment and 1.4 Billing Period / Invoice Detail datasets into their own tables,
each file reconciled (rows, and money per currency where the dataset has money)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from tests.integration.test_pipeline import Pipeline, pipeline  # noqa: F401  (the pipeline fixture)

from cloudops.sinks.clickhouse import connect, database_for

pytestmark = pytest.mark.integration

FOCUS = Path(__file__).parents[1] / "fixtures" / "focus"


def _query(p: Pipeline, sql: str) -> list[tuple]:
    ch = connect(p.settings.clickhouse_dsn)
    return ch.call(lambda c: c.query(sql.format(db=database_for(p.tenant))).result_rows)


async def test_focus_13_cost_and_contract_commitment_land_in_their_tables(pipeline: Pipeline) -> None:  # noqa: F811
    cost_id = await pipeline.upload("focus13/cost.csv", (FOCUS / "focus13_cost_and_usage.csv").read_bytes())
    cc_id = await pipeline.upload("focus13/commitments.csv", (FOCUS / "focus13_contract_commitment.csv").read_bytes())

    [cost] = await pipeline.receipts(cost_id)
    assert cost.format == "focus-1.3"
    assert cost.reconciled
    assert (cost.rows_in, cost.rows_landed, cost.rows_rejected) == (6, 5, 1)
    assert cost.landed_totals == {"USD": Decimal("79.75")}

    [cc] = await pipeline.receipts(cc_id)
    assert cc.format == "focus-1.3-contract-commitment"
    assert cc.reconciled
    assert (cc.rows_in, cc.rows_landed, cc.rows_rejected) == (5, 4, 1)
    assert cc.source_totals == {"USD": Decimal(365000)}
    assert cc.landed_totals == {"USD": Decimal(360000)}

    # Cost and Usage rows (and only they) are in focus, with the 1.3 columns filled.
    rows = _query(
        pipeline,
        "SELECT x_RowNumber, ServiceProviderName, HostProviderName, ProviderName, ContractApplied, "
        "AllocatedResourceName, AllocatedTags, x_Extensions FROM {db}.focus ORDER BY x_RowNumber",
    )
    assert [r[0] for r in rows] == [0, 1, 2, 3, 4]
    assert rows[1][1:4] == ("Datadog", "Acme Cloud", "Acme Cloud")
    assert json.loads(rows[0][4])["Elements"][0]["ContractCommitmentId"] == "cc-spend-2026"
    assert [r[5] for r in rows[2:4]] == ["payments", "search"]
    assert json.loads(rows[3][6]) == {"namespace": "search"}
    assert json.loads(rows[0][7])["x_CustomerCostCenter"] == "CC-17"  # an unmapped column is kept

    commitments = _query(
        pipeline,
        "SELECT ContractCommitmentId, ContractCommitmentCategory, ContractCommitmentCost, ContractCommitmentQuantity, "
        "x_FileId FROM {db}.contract_commitment ORDER BY ContractCommitmentId",
    )
    assert [c[0] for c in commitments] == ["cc-spend-2026", "cc-spend-2027", "cc-spend-2028", "cc-usage-gpu"]
    assert commitments[3][1:4] == ("Usage", None, Decimal(87600))
    assert {c[4] for c in commitments} == {cc_id}

    # The two datasets join: the commitment a charge was applied to, by ContractApplied.
    joined = _query(
        pipeline,
        "SELECT c.ContractCommitmentType, sum(f.BilledCost) FROM {db}.focus AS f "
        "INNER JOIN {db}.contract_commitment AS c ON c.ContractCommitmentId = "
        "JSONExtractString(assumeNotNull(f.ContractApplied), 'Elements', 1, 'ContractCommitmentId') "
        "WHERE f.ContractApplied IS NOT NULL GROUP BY c.ContractCommitmentType",
    )
    assert joined == [("Minimum Spend", Decimal(40))]


async def test_focus_14_datasets_land_in_their_tables(pipeline: Pipeline) -> None:  # noqa: F811
    bp_id = await pipeline.upload("focus14/periods.csv", (FOCUS / "focus14_billing_period.csv").read_bytes())
    inv_id = await pipeline.upload("focus14/invoice.csv", (FOCUS / "focus14_invoice_detail.csv").read_bytes())
    [bp] = await pipeline.receipts(bp_id)
    [inv] = await pipeline.receipts(inv_id)
    assert bp.reconciled
    assert (bp.rows_landed, bp.landed_totals) == (3, {})
    assert inv.reconciled
    assert inv.landed_totals == {"USD": Decimal("1709.28")}
    statuses = _query(pipeline, "SELECT BillingPeriodStatus, count() FROM {db}.billing_period GROUP BY 1 ORDER BY 1")
    assert statuses == [("Closed", 2), ("Open", 1)]
    assert _query(pipeline, "SELECT count() FROM {db}.focus")[0][0] == 0


async def test_dataset_inserts_are_idempotent(chdb_dsn: str, unique: str) -> None:
    """The same batch inserted twice (a redelivered message) lands once: the batch id is the dedup token."""
    from cloudops.sinks.clickhouse import migrate
    from cloudops.sinks.clickhouse.datasets import dataset_file_landed, delete_dataset_file, insert_dataset_batch
    from cloudops.sources.converter import open_conversion

    tenant = f"d{unique}"
    ch = connect(chdb_dsn)
    migrate(ch, tenant)
    path = FOCUS / "focus13_contract_commitment.csv"
    conv = open_conversion(path, source=str(path), file_id="f1", block_size=1 << 16)
    [batch] = [r.batch for r, _ in conv.chunks() if r is not None]
    for _ in range(2):
        await insert_dataset_batch(ch, tenant, "ContractCommitment", batch, token="f1:0", x_source="src-1")
    landed = await dataset_file_landed(ch, tenant, "ContractCommitment", "f1")
    assert (landed.rows, landed.source_rows, landed.totals) == (4, 4, {"USD": Decimal(360000)})
    sources = ch.call(lambda c: c.query(f"SELECT DISTINCT x_Source FROM {database_for(tenant)}.contract_commitment"))
    assert sources.result_rows == [("src-1",)]
    await delete_dataset_file(ch, tenant, "ContractCommitment", "f1")
    assert (await dataset_file_landed(ch, tenant, "ContractCommitment", "f1")).rows == 0
