"""FOCUS datasets beyond Cost and Usage: their columns, Arrow schemas and ClickHouse tables.

FOCUS 1.3 added the first supporting dataset, **Contract Commitment** (the terms of contracts
agreed between a service provider and a customer; joined to Cost and Usage through
``ContractApplied[*].ContractCommitmentId``). The FOCUS 1.4 drafts add **Billing Period**
(the status of each billing cycle) and **Invoice Detail** (charges as they appear on
invoices). Each dataset is detected from a file's own columns (a rules file with
``dataset: <id>``), converted by the same column-at-a-time engine as Cost and Usage
(:func:`cloudops.focus.convert.convert_batch`) into its own Arrow schema, and loaded into
its own table per tenant (``tenant_<t>.contract_commitment``, ``billing_period``,
``invoice_detail``).

Sources (CC-BY-4.0), FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec:

* Contract Commitment (introduced 1.3): ``specification/datasets/contract_commitment/dataset.md``
  (stored commit ``0093e6af``; column list ``columns/columns.mdpp``, commit ``0adb74e5``).
* Billing Period (introduced 1.4): ``specification/datasets/billing_period/dataset.md`` (commit ``038e89b8``).
* Invoice Detail (introduced 1.4): ``specification/datasets/invoice_detail/dataset.md`` (commit ``023c3dbf``).

``nullable=False`` follows the spec's "Allows nulls: False" for columns every file must
carry; columns the spec makes conditional (present only when the provider supports the
feature) are nullable here, so a file without them still loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pyarrow as pa

from cloudops.focus.columns import EXTENSION_COLUMNS, FOCUS_COLUMNS, ColumnKind, FocusColumn

__all__ = [
    "BILLING_PERIOD",
    "CONTRACT_COMMITMENT",
    "COST_AND_USAGE",
    "DATASETS",
    "INVOICE_DETAIL",
    "Dataset",
    "batch_cost_totals",
    "dataset",
    "dataset_columns",
    "dataset_schema",
]

COST_AND_USAGE = "CostAndUsage"


def _c(name: str, kind: ColumnKind, nullable: bool = True, since: str = "1.3") -> FocusColumn:
    return FocusColumn(name, kind, nullable, since)


@dataclass(frozen=True, slots=True)
class Dataset:
    """One FOCUS dataset: its id, columns, ClickHouse table and reconciliation columns.

    ``cost``/``currency`` name the money column summed per currency to reconcile a file
    (source == landed + rejected); ``None`` when the dataset carries no money (rows only).
    """

    id: str
    title: str
    since: str
    table: str
    columns: tuple[FocusColumn, ...]
    key: tuple[str, ...]
    cost: str | None = None
    currency: str | None = None
    source: str = ""


CONTRACT_COMMITMENT = Dataset(
    id="ContractCommitment",
    title="Contract Commitment",
    since="1.3",
    table="contract_commitment",
    columns=(
        _c("BillingCurrency", "dimension"),
        _c("ContractCommitmentCategory", "dimension", nullable=False),
        _c("ContractCommitmentCost", "decimal"),
        _c("ContractCommitmentDescription", "string"),
        _c("ContractCommitmentId", "string", nullable=False),
        _c("ContractCommitmentPeriodEnd", "datetime", nullable=False),
        _c("ContractCommitmentPeriodStart", "datetime", nullable=False),
        _c("ContractCommitmentQuantity", "decimal"),
        _c("ContractCommitmentType", "dimension", nullable=False),
        _c("ContractCommitmentUnit", "dimension"),
        _c("ContractId", "string", nullable=False),
        _c("ContractPeriodEnd", "datetime", nullable=False),
        _c("ContractPeriodStart", "datetime", nullable=False),
    ),
    key=("ContractId", "ContractCommitmentId"),
    cost="ContractCommitmentCost",
    currency="BillingCurrency",
    source="https://focus.finops.org/focus-specification/v1-3/",
)

BILLING_PERIOD = Dataset(
    id="BillingPeriod",
    title="Billing Period",
    since="1.4",
    table="billing_period",
    columns=(
        _c("BillingPeriodCreated", "datetime", nullable=False, since="1.4"),
        _c("BillingPeriodEnd", "datetime", nullable=False, since="1.4"),
        _c("BillingPeriodLastUpdated", "datetime", nullable=False, since="1.4"),
        _c("BillingPeriodStart", "datetime", nullable=False, since="1.4"),
        _c("BillingPeriodStatus", "dimension", nullable=False, since="1.4"),
        _c("InvoiceIssuerName", "dimension", nullable=False, since="1.4"),
    ),
    key=("InvoiceIssuerName", "BillingPeriodStart"),
    source="https://focus.finops.org/focus-specification/v1-4/",
)

INVOICE_DETAIL = Dataset(
    id="InvoiceDetail",
    title="Invoice Detail",
    since="1.4",
    table="invoice_detail",
    columns=(
        _c("BilledCost", "decimal", nullable=False, since="1.4"),
        _c("BillingAccountId", "dimension", nullable=False, since="1.4"),
        _c("BillingCurrency", "dimension", nullable=False, since="1.4"),
        _c("BillingPeriodEnd", "datetime", nullable=False, since="1.4"),
        _c("BillingPeriodStart", "datetime", nullable=False, since="1.4"),
        _c("ChargeCategory", "dimension", nullable=False, since="1.4"),
        _c("InvoiceDetailCreated", "datetime", nullable=False, since="1.4"),
        _c("InvoiceDetailDescription", "string", since="1.4"),
        _c("InvoiceDetailGrain", "json", since="1.4"),
        _c("InvoiceDetailId", "string", nullable=False, since="1.4"),
        _c("InvoiceDetailLastUpdated", "datetime", nullable=False, since="1.4"),
        _c("InvoiceId", "string", nullable=False, since="1.4"),
        _c("InvoiceIssueDate", "datetime", since="1.4"),
        _c("InvoiceIssueStatus", "dimension", nullable=False, since="1.4"),
        _c("InvoiceIssuerName", "dimension", nullable=False, since="1.4"),
        # Present only when billing and payment currencies can differ (conditional in the draft).
        _c("PaymentCurrency", "dimension", since="1.4"),
        _c("PaymentCurrencyBilledCost", "decimal", since="1.4"),
        _c("PaymentCurrencyInvoiceDetailId", "string", since="1.4"),
        _c("PaymentDueDate", "datetime", since="1.4"),
        _c("PaymentTerms", "dimension", since="1.4"),
        _c("PurchaseOrderNumber", "string", since="1.4"),
        # Refers to the corrected invoice: only corrections have one.
        _c("ReferenceInvoiceId", "string", since="1.4"),
    ),
    key=("InvoiceIssuerName", "InvoiceId", "InvoiceDetailId"),
    cost="BilledCost",
    currency="BillingCurrency",
    source="https://focus.finops.org/focus-specification/v1-4/",
)

DATASETS: dict[str, Dataset] = {d.id: d for d in (CONTRACT_COMMITMENT, BILLING_PERIOD, INVOICE_DETAIL)}


def dataset(dataset_id: str) -> Dataset:
    """The supporting dataset ``dataset_id``; KeyError for Cost and Usage or an unknown id."""
    return DATASETS[dataset_id]


def dataset_columns(dataset_id: str) -> tuple[FocusColumn, ...]:
    """FOCUS columns of ``dataset_id`` (Cost and Usage: ``FOCUS_COLUMNS``). KeyError if unknown."""
    if dataset_id == COST_AND_USAGE:
        return FOCUS_COLUMNS
    return DATASETS[dataset_id].columns


_SCHEMAS: dict[str, pa.Schema] = {}


def dataset_schema(dataset_id: str) -> pa.Schema:
    """Schema of a converted batch of ``dataset_id``: its FOCUS columns then the extension columns, all nullable."""
    schema = _SCHEMAS.get(dataset_id)
    if schema is None:
        cols = dataset_columns(dataset_id) + EXTENSION_COLUMNS
        schema = _SCHEMAS[dataset_id] = pa.schema([pa.field(c.name, c.arrow_type, nullable=True) for c in cols])
    return schema


def batch_cost_totals(batch: pa.RecordBatch, dataset_id: str) -> dict[str, Decimal]:
    """Money of a converted batch per currency: BilledCost for Cost and Usage, the dataset's cost column
    otherwise; empty for a dataset without money. Pure."""
    from cloudops.focus.convert import sum_by_currency

    if dataset_id == COST_AND_USAGE:
        cost, currency = "BilledCost", "BillingCurrency"
    else:
        spec = DATASETS[dataset_id]
        if spec.cost is None or spec.currency is None:
            return {}
        cost, currency = spec.cost, spec.currency
    values = batch.column(cost)
    keep = values.is_valid()
    return sum_by_currency(values.filter(keep), batch.column(currency).filter(keep))
