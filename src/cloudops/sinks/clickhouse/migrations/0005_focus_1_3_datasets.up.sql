-- 0005: FOCUS 1.3 and the supporting FOCUS datasets (issue 10).
-- * focus, focus_staging, focus_pending get the FOCUS 1.3 Cost and Usage columns that were missing
--   (split cost allocation and ContractApplied), in the same place in all three, so REPLACE PARTITION
--   (staging -> focus) and the pending -> staging copy keep working.
-- * One table per supporting dataset: contract_commitment (FOCUS 1.3 Contract Commitment),
--   billing_period and invoice_detail (FOCUS 1.4). Columns: the dataset's FOCUS columns (see
--   cloudops.focus.datasets), then the cloudops x_ columns. Inserts are deduplicated by batch id.
-- {db} and {dedup_window} are filled in by the migrator.

ALTER TABLE {db}.focus
    ADD COLUMN IF NOT EXISTS `AllocatedMethodId` Nullable(String) CODEC(ZSTD(1)) AFTER `HostProviderName`,
    ADD COLUMN IF NOT EXISTS `AllocatedMethodDetails` Nullable(String) CODEC(ZSTD(3)) AFTER `AllocatedMethodId`,
    ADD COLUMN IF NOT EXISTS `AllocatedResourceId` Nullable(String) CODEC(ZSTD(1)) AFTER `AllocatedMethodDetails`,
    ADD COLUMN IF NOT EXISTS `AllocatedResourceName` Nullable(String) CODEC(ZSTD(1)) AFTER `AllocatedResourceId`,
    ADD COLUMN IF NOT EXISTS `AllocatedTags` Nullable(String) CODEC(ZSTD(3)) AFTER `AllocatedResourceName`,
    ADD COLUMN IF NOT EXISTS `ContractApplied` Nullable(String) CODEC(ZSTD(3)) AFTER `AllocatedTags`;

ALTER TABLE {db}.focus_staging
    ADD COLUMN IF NOT EXISTS `AllocatedMethodId` Nullable(String) CODEC(ZSTD(1)) AFTER `HostProviderName`,
    ADD COLUMN IF NOT EXISTS `AllocatedMethodDetails` Nullable(String) CODEC(ZSTD(3)) AFTER `AllocatedMethodId`,
    ADD COLUMN IF NOT EXISTS `AllocatedResourceId` Nullable(String) CODEC(ZSTD(1)) AFTER `AllocatedMethodDetails`,
    ADD COLUMN IF NOT EXISTS `AllocatedResourceName` Nullable(String) CODEC(ZSTD(1)) AFTER `AllocatedResourceId`,
    ADD COLUMN IF NOT EXISTS `AllocatedTags` Nullable(String) CODEC(ZSTD(3)) AFTER `AllocatedResourceName`,
    ADD COLUMN IF NOT EXISTS `ContractApplied` Nullable(String) CODEC(ZSTD(3)) AFTER `AllocatedTags`;

ALTER TABLE {db}.focus_pending
    ADD COLUMN IF NOT EXISTS `AllocatedMethodId` Nullable(String) CODEC(ZSTD(1)) AFTER `HostProviderName`,
    ADD COLUMN IF NOT EXISTS `AllocatedMethodDetails` Nullable(String) CODEC(ZSTD(3)) AFTER `AllocatedMethodId`,
    ADD COLUMN IF NOT EXISTS `AllocatedResourceId` Nullable(String) CODEC(ZSTD(1)) AFTER `AllocatedMethodDetails`,
    ADD COLUMN IF NOT EXISTS `AllocatedResourceName` Nullable(String) CODEC(ZSTD(1)) AFTER `AllocatedResourceId`,
    ADD COLUMN IF NOT EXISTS `AllocatedTags` Nullable(String) CODEC(ZSTD(3)) AFTER `AllocatedResourceName`,
    ADD COLUMN IF NOT EXISTS `ContractApplied` Nullable(String) CODEC(ZSTD(3)) AFTER `AllocatedTags`;

-- FOCUS 1.3 Contract Commitment dataset.
CREATE TABLE IF NOT EXISTS {db}.contract_commitment
(
    `BillingCurrency` LowCardinality(Nullable(String)),
    `ContractCommitmentCategory` LowCardinality(String),
    `ContractCommitmentCost` Nullable(Decimal(38, 10)) CODEC(ZSTD(1)),
    `ContractCommitmentDescription` Nullable(String) CODEC(ZSTD(1)),
    `ContractCommitmentId` String CODEC(ZSTD(1)),
    `ContractCommitmentPeriodEnd` DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    `ContractCommitmentPeriodStart` DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    `ContractCommitmentQuantity` Nullable(Decimal(38, 10)) CODEC(ZSTD(1)),
    `ContractCommitmentType` LowCardinality(String),
    `ContractCommitmentUnit` LowCardinality(Nullable(String)),
    `ContractId` String CODEC(ZSTD(1)),
    `ContractPeriodEnd` DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    `ContractPeriodStart` DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    `x_Provider` LowCardinality(String),
    `x_SourceFormat` LowCardinality(String),
    `x_FileId` String CODEC(ZSTD(1)),
    `x_BatchId` String CODEC(ZSTD(1)),
    `x_RowNumber` Int64,
    `x_Extensions` Nullable(String) CODEC(ZSTD(3)),
    `x_Source` LowCardinality(String) DEFAULT x_Provider,
    `x_IngestedAt` DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_file_id x_FileId TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
ORDER BY (ContractId, ContractCommitmentId, x_FileId, x_RowNumber)
SETTINGS non_replicated_deduplication_window = {dedup_window};

-- FOCUS 1.4 Billing Period dataset.
CREATE TABLE IF NOT EXISTS {db}.billing_period
(
    `BillingPeriodCreated` DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    `BillingPeriodEnd` DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    `BillingPeriodLastUpdated` DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    `BillingPeriodStart` DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    `BillingPeriodStatus` LowCardinality(String),
    `InvoiceIssuerName` LowCardinality(String),
    `x_Provider` LowCardinality(String),
    `x_SourceFormat` LowCardinality(String),
    `x_FileId` String CODEC(ZSTD(1)),
    `x_BatchId` String CODEC(ZSTD(1)),
    `x_RowNumber` Int64,
    `x_Extensions` Nullable(String) CODEC(ZSTD(3)),
    `x_Source` LowCardinality(String) DEFAULT x_Provider,
    `x_IngestedAt` DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_file_id x_FileId TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
ORDER BY (InvoiceIssuerName, BillingPeriodStart, x_FileId, x_RowNumber)
SETTINGS non_replicated_deduplication_window = {dedup_window};

-- FOCUS 1.4 Invoice Detail dataset.
CREATE TABLE IF NOT EXISTS {db}.invoice_detail
(
    `BilledCost` Decimal(38, 10) CODEC(ZSTD(1)),
    `BillingAccountId` LowCardinality(String),
    `BillingCurrency` LowCardinality(String),
    `BillingPeriodEnd` DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    `BillingPeriodStart` DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    `ChargeCategory` LowCardinality(String),
    `InvoiceDetailCreated` DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    `InvoiceDetailDescription` Nullable(String) CODEC(ZSTD(1)),
    `InvoiceDetailGrain` Nullable(String) CODEC(ZSTD(3)),
    `InvoiceDetailId` String CODEC(ZSTD(1)),
    `InvoiceDetailLastUpdated` DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    `InvoiceId` String CODEC(ZSTD(1)),
    `InvoiceIssueDate` Nullable(DateTime64(6, 'UTC')) CODEC(Delta, ZSTD(1)),
    `InvoiceIssueStatus` LowCardinality(String),
    `InvoiceIssuerName` LowCardinality(String),
    `PaymentCurrency` LowCardinality(Nullable(String)),
    `PaymentCurrencyBilledCost` Nullable(Decimal(38, 10)) CODEC(ZSTD(1)),
    `PaymentCurrencyInvoiceDetailId` Nullable(String) CODEC(ZSTD(1)),
    `PaymentDueDate` Nullable(DateTime64(6, 'UTC')) CODEC(Delta, ZSTD(1)),
    `PaymentTerms` LowCardinality(Nullable(String)),
    `PurchaseOrderNumber` Nullable(String) CODEC(ZSTD(1)),
    `ReferenceInvoiceId` Nullable(String) CODEC(ZSTD(1)),
    `x_Provider` LowCardinality(String),
    `x_SourceFormat` LowCardinality(String),
    `x_FileId` String CODEC(ZSTD(1)),
    `x_BatchId` String CODEC(ZSTD(1)),
    `x_RowNumber` Int64,
    `x_Extensions` Nullable(String) CODEC(ZSTD(3)),
    `x_Source` LowCardinality(String) DEFAULT x_Provider,
    `x_IngestedAt` DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_file_id x_FileId TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(BillingPeriodStart)
ORDER BY (InvoiceIssuerName, InvoiceId, InvoiceDetailId, x_FileId, x_RowNumber)
SETTINGS non_replicated_deduplication_window = {dedup_window};
