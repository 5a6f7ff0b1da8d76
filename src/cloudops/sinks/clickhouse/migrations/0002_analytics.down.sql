-- Reverts 0002: drops rollups, staging and views; restores the 0001 partitioning (data kept).
DROP VIEW IF EXISTS {db}.mv_rollup_day;

DROP TABLE IF EXISTS {db}.rollup_day;

DROP VIEW IF EXISTS {db}.mv_rollup_month;

DROP TABLE IF EXISTS {db}.rollup_month;

DROP VIEW IF EXISTS {db}.mv_rollup_resource_month;

DROP TABLE IF EXISTS {db}.rollup_resource_month;

DROP VIEW IF EXISTS {db}.mv_rollup_tag_day;

DROP TABLE IF EXISTS {db}.rollup_tag_day;

DROP VIEW IF EXISTS {db}.mv_rollup_day_staging;

DROP TABLE IF EXISTS {db}.rollup_day_staging;

DROP VIEW IF EXISTS {db}.mv_rollup_month_staging;

DROP TABLE IF EXISTS {db}.rollup_month_staging;

DROP VIEW IF EXISTS {db}.mv_rollup_resource_month_staging;

DROP TABLE IF EXISTS {db}.rollup_resource_month_staging;

DROP VIEW IF EXISTS {db}.mv_rollup_tag_day_staging;

DROP TABLE IF EXISTS {db}.rollup_tag_day_staging;

DROP TABLE IF EXISTS {db}.focus_staging;

CREATE TABLE {db}.focus_v1
(
    `AvailabilityZone` LowCardinality(Nullable(String)),
    `BilledCost` Decimal(38, 10),
    `BillingAccountId` LowCardinality(String),
    `BillingAccountName` LowCardinality(Nullable(String)),
    `BillingAccountType` LowCardinality(Nullable(String)),
    `BillingCurrency` LowCardinality(String),
    `BillingPeriodEnd` DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    `BillingPeriodStart` DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    `CapacityReservationId` Nullable(String) CODEC(ZSTD(1)),
    `CapacityReservationStatus` LowCardinality(Nullable(String)),
    `ChargeCategory` LowCardinality(String),
    `ChargeClass` LowCardinality(Nullable(String)),
    `ChargeDescription` Nullable(String) CODEC(ZSTD(1)),
    `ChargeFrequency` LowCardinality(Nullable(String)),
    `ChargePeriodEnd` DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    `ChargePeriodStart` DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    `CommitmentDiscountCategory` LowCardinality(Nullable(String)),
    `CommitmentDiscountId` Nullable(String) CODEC(ZSTD(1)),
    `CommitmentDiscountName` Nullable(String) CODEC(ZSTD(1)),
    `CommitmentDiscountQuantity` Nullable(Decimal(38, 10)),
    `CommitmentDiscountStatus` LowCardinality(Nullable(String)),
    `CommitmentDiscountType` LowCardinality(Nullable(String)),
    `CommitmentDiscountUnit` LowCardinality(Nullable(String)),
    `ConsumedQuantity` Nullable(Decimal(38, 10)),
    `ConsumedUnit` LowCardinality(Nullable(String)),
    `ContractedCost` Decimal(38, 10),
    `ContractedUnitPrice` Nullable(Decimal(38, 10)),
    `EffectiveCost` Decimal(38, 10),
    `InvoiceId` Nullable(String) CODEC(ZSTD(1)),
    `InvoiceIssuerName` LowCardinality(String),
    `ListCost` Decimal(38, 10),
    `ListUnitPrice` Nullable(Decimal(38, 10)),
    `PricingCategory` LowCardinality(Nullable(String)),
    `PricingCurrency` LowCardinality(Nullable(String)),
    `PricingCurrencyContractedUnitPrice` Nullable(Decimal(38, 10)),
    `PricingCurrencyEffectiveCost` Nullable(Decimal(38, 10)),
    `PricingCurrencyListUnitPrice` Nullable(Decimal(38, 10)),
    `PricingQuantity` Nullable(Decimal(38, 10)),
    `PricingUnit` LowCardinality(Nullable(String)),
    `ProviderName` LowCardinality(String),
    `PublisherName` LowCardinality(String),
    `RegionId` LowCardinality(Nullable(String)),
    `RegionName` LowCardinality(Nullable(String)),
    `ResourceId` Nullable(String) CODEC(ZSTD(1)),
    `ResourceName` Nullable(String) CODEC(ZSTD(1)),
    `ResourceType` LowCardinality(Nullable(String)),
    `ServiceCategory` LowCardinality(String),
    `ServiceName` LowCardinality(String),
    `ServiceSubcategory` LowCardinality(Nullable(String)),
    `SkuId` Nullable(String) CODEC(ZSTD(1)),
    `SkuMeter` Nullable(String) CODEC(ZSTD(1)),
    `SkuPriceDetails` Nullable(String) CODEC(ZSTD(1)),
    `SkuPriceId` Nullable(String) CODEC(ZSTD(1)),
    `SubAccountId` LowCardinality(Nullable(String)),
    `SubAccountName` LowCardinality(Nullable(String)),
    `SubAccountType` LowCardinality(Nullable(String)),
    `Tags` Nullable(String) CODEC(ZSTD(1)),
    `ServiceProviderName` LowCardinality(Nullable(String)),
    `HostProviderName` LowCardinality(Nullable(String)),
    `x_Provider` LowCardinality(String),
    `x_SourceFormat` LowCardinality(String),
    `x_FileId` String CODEC(ZSTD(1)),
    `x_BatchId` String CODEC(ZSTD(1)),
    `x_RowNumber` Int64,
    `x_Extensions` Nullable(String) CODEC(ZSTD(1)),
    `x_IngestedAt` DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_file_id x_FileId TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(BillingPeriodStart)
ORDER BY (x_Provider, BillingAccountId, ServiceName, ChargePeriodStart, x_FileId, x_RowNumber)
SETTINGS non_replicated_deduplication_window = {dedup_window};

INSERT INTO {db}.focus_v1 (`AvailabilityZone`, `BilledCost`, `BillingAccountId`, `BillingAccountName`, `BillingAccountType`, `BillingCurrency`, `BillingPeriodEnd`, `BillingPeriodStart`, `CapacityReservationId`, `CapacityReservationStatus`, `ChargeCategory`, `ChargeClass`, `ChargeDescription`, `ChargeFrequency`, `ChargePeriodEnd`, `ChargePeriodStart`, `CommitmentDiscountCategory`, `CommitmentDiscountId`, `CommitmentDiscountName`, `CommitmentDiscountQuantity`, `CommitmentDiscountStatus`, `CommitmentDiscountType`, `CommitmentDiscountUnit`, `ConsumedQuantity`, `ConsumedUnit`, `ContractedCost`, `ContractedUnitPrice`, `EffectiveCost`, `InvoiceId`, `InvoiceIssuerName`, `ListCost`, `ListUnitPrice`, `PricingCategory`, `PricingCurrency`, `PricingCurrencyContractedUnitPrice`, `PricingCurrencyEffectiveCost`, `PricingCurrencyListUnitPrice`, `PricingQuantity`, `PricingUnit`, `ProviderName`, `PublisherName`, `RegionId`, `RegionName`, `ResourceId`, `ResourceName`, `ResourceType`, `ServiceCategory`, `ServiceName`, `ServiceSubcategory`, `SkuId`, `SkuMeter`, `SkuPriceDetails`, `SkuPriceId`, `SubAccountId`, `SubAccountName`, `SubAccountType`, `Tags`, `ServiceProviderName`, `HostProviderName`, `x_Provider`, `x_SourceFormat`, `x_FileId`, `x_BatchId`, `x_RowNumber`, `x_Extensions`) SELECT `AvailabilityZone`, `BilledCost`, `BillingAccountId`, `BillingAccountName`, `BillingAccountType`, `BillingCurrency`, `BillingPeriodEnd`, `BillingPeriodStart`, `CapacityReservationId`, `CapacityReservationStatus`, `ChargeCategory`, `ChargeClass`, `ChargeDescription`, `ChargeFrequency`, `ChargePeriodEnd`, `ChargePeriodStart`, `CommitmentDiscountCategory`, `CommitmentDiscountId`, `CommitmentDiscountName`, `CommitmentDiscountQuantity`, `CommitmentDiscountStatus`, `CommitmentDiscountType`, `CommitmentDiscountUnit`, `ConsumedQuantity`, `ConsumedUnit`, `ContractedCost`, `ContractedUnitPrice`, `EffectiveCost`, `InvoiceId`, `InvoiceIssuerName`, `ListCost`, `ListUnitPrice`, `PricingCategory`, `PricingCurrency`, `PricingCurrencyContractedUnitPrice`, `PricingCurrencyEffectiveCost`, `PricingCurrencyListUnitPrice`, `PricingQuantity`, `PricingUnit`, `ProviderName`, `PublisherName`, `RegionId`, `RegionName`, `ResourceId`, `ResourceName`, `ResourceType`, `ServiceCategory`, `ServiceName`, `ServiceSubcategory`, `SkuId`, `SkuMeter`, `SkuPriceDetails`, `SkuPriceId`, `SubAccountId`, `SubAccountName`, `SubAccountType`, `Tags`, `ServiceProviderName`, `HostProviderName`, `x_Provider`, `x_SourceFormat`, `x_FileId`, `x_BatchId`, `x_RowNumber`, `x_Extensions` FROM {db}.focus;

EXCHANGE TABLES {db}.focus AND {db}.focus_v1;

DROP TABLE {db}.focus_v1;
