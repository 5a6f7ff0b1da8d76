-- 0002: the analytics layout (issue 4).
-- * focus: partitioned by (billing month, source) so a restated period of one source can be swapped
--   atomically (REPLACE PARTITION); x_TagsMap materialised from Tags for tag queries.
-- * rollups: SummingMergeTree tables fed by materialised views, day and month grain over the dashboard
--   dimensions, a tag rollup (one row per tag key/value) and a per-resource day rollup.
-- * *_staging twins (same layout, same views) for loading a restated period before swapping it in.
-- {db} and {dedup_window} are filled in by the migrator.
CREATE TABLE {db}.focus_v2
(
    `AvailabilityZone` LowCardinality(Nullable(String)),
    `BilledCost` Decimal(38, 10) CODEC(ZSTD(1)),
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
    `CommitmentDiscountQuantity` Nullable(Decimal(38, 10)) CODEC(ZSTD(1)),
    `CommitmentDiscountStatus` LowCardinality(Nullable(String)),
    `CommitmentDiscountType` LowCardinality(Nullable(String)),
    `CommitmentDiscountUnit` LowCardinality(Nullable(String)),
    `ConsumedQuantity` Nullable(Decimal(38, 10)) CODEC(ZSTD(1)),
    `ConsumedUnit` LowCardinality(Nullable(String)),
    `ContractedCost` Decimal(38, 10) CODEC(ZSTD(1)),
    `ContractedUnitPrice` Nullable(Decimal(38, 10)) CODEC(ZSTD(1)),
    `EffectiveCost` Decimal(38, 10) CODEC(ZSTD(1)),
    `InvoiceId` Nullable(String) CODEC(ZSTD(1)),
    `InvoiceIssuerName` LowCardinality(String),
    `ListCost` Decimal(38, 10) CODEC(ZSTD(1)),
    `ListUnitPrice` Nullable(Decimal(38, 10)) CODEC(ZSTD(1)),
    `PricingCategory` LowCardinality(Nullable(String)),
    `PricingCurrency` LowCardinality(Nullable(String)),
    `PricingCurrencyContractedUnitPrice` Nullable(Decimal(38, 10)) CODEC(ZSTD(1)),
    `PricingCurrencyEffectiveCost` Nullable(Decimal(38, 10)) CODEC(ZSTD(1)),
    `PricingCurrencyListUnitPrice` Nullable(Decimal(38, 10)) CODEC(ZSTD(1)),
    `PricingQuantity` Nullable(Decimal(38, 10)) CODEC(ZSTD(1)),
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
    `SkuPriceDetails` Nullable(String) CODEC(ZSTD(3)),
    `SkuPriceId` Nullable(String) CODEC(ZSTD(1)),
    `SubAccountId` LowCardinality(Nullable(String)),
    `SubAccountName` LowCardinality(Nullable(String)),
    `SubAccountType` LowCardinality(Nullable(String)),
    `Tags` Nullable(String) CODEC(ZSTD(3)),
    `ServiceProviderName` LowCardinality(Nullable(String)),
    `HostProviderName` LowCardinality(Nullable(String)),
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
PARTITION BY (toYYYYMM(BillingPeriodStart), x_Source)
ORDER BY (x_Provider, BillingAccountId, ServiceName, ChargePeriodStart, x_FileId, x_RowNumber)
SETTINGS non_replicated_deduplication_window = {dedup_window};

INSERT INTO {db}.focus_v2 (`AvailabilityZone`, `BilledCost`, `BillingAccountId`, `BillingAccountName`, `BillingAccountType`, `BillingCurrency`, `BillingPeriodEnd`, `BillingPeriodStart`, `CapacityReservationId`, `CapacityReservationStatus`, `ChargeCategory`, `ChargeClass`, `ChargeDescription`, `ChargeFrequency`, `ChargePeriodEnd`, `ChargePeriodStart`, `CommitmentDiscountCategory`, `CommitmentDiscountId`, `CommitmentDiscountName`, `CommitmentDiscountQuantity`, `CommitmentDiscountStatus`, `CommitmentDiscountType`, `CommitmentDiscountUnit`, `ConsumedQuantity`, `ConsumedUnit`, `ContractedCost`, `ContractedUnitPrice`, `EffectiveCost`, `InvoiceId`, `InvoiceIssuerName`, `ListCost`, `ListUnitPrice`, `PricingCategory`, `PricingCurrency`, `PricingCurrencyContractedUnitPrice`, `PricingCurrencyEffectiveCost`, `PricingCurrencyListUnitPrice`, `PricingQuantity`, `PricingUnit`, `ProviderName`, `PublisherName`, `RegionId`, `RegionName`, `ResourceId`, `ResourceName`, `ResourceType`, `ServiceCategory`, `ServiceName`, `ServiceSubcategory`, `SkuId`, `SkuMeter`, `SkuPriceDetails`, `SkuPriceId`, `SubAccountId`, `SubAccountName`, `SubAccountType`, `Tags`, `ServiceProviderName`, `HostProviderName`, `x_Provider`, `x_SourceFormat`, `x_FileId`, `x_BatchId`, `x_RowNumber`, `x_Extensions`) SELECT `AvailabilityZone`, `BilledCost`, `BillingAccountId`, `BillingAccountName`, `BillingAccountType`, `BillingCurrency`, `BillingPeriodEnd`, `BillingPeriodStart`, `CapacityReservationId`, `CapacityReservationStatus`, `ChargeCategory`, `ChargeClass`, `ChargeDescription`, `ChargeFrequency`, `ChargePeriodEnd`, `ChargePeriodStart`, `CommitmentDiscountCategory`, `CommitmentDiscountId`, `CommitmentDiscountName`, `CommitmentDiscountQuantity`, `CommitmentDiscountStatus`, `CommitmentDiscountType`, `CommitmentDiscountUnit`, `ConsumedQuantity`, `ConsumedUnit`, `ContractedCost`, `ContractedUnitPrice`, `EffectiveCost`, `InvoiceId`, `InvoiceIssuerName`, `ListCost`, `ListUnitPrice`, `PricingCategory`, `PricingCurrency`, `PricingCurrencyContractedUnitPrice`, `PricingCurrencyEffectiveCost`, `PricingCurrencyListUnitPrice`, `PricingQuantity`, `PricingUnit`, `ProviderName`, `PublisherName`, `RegionId`, `RegionName`, `ResourceId`, `ResourceName`, `ResourceType`, `ServiceCategory`, `ServiceName`, `ServiceSubcategory`, `SkuId`, `SkuMeter`, `SkuPriceDetails`, `SkuPriceId`, `SubAccountId`, `SubAccountName`, `SubAccountType`, `Tags`, `ServiceProviderName`, `HostProviderName`, `x_Provider`, `x_SourceFormat`, `x_FileId`, `x_BatchId`, `x_RowNumber`, `x_Extensions` FROM {db}.focus;

EXCHANGE TABLES {db}.focus AND {db}.focus_v2;

DROP TABLE {db}.focus_v2;

CREATE TABLE {db}.focus_staging
(
    `AvailabilityZone` LowCardinality(Nullable(String)),
    `BilledCost` Decimal(38, 10) CODEC(ZSTD(1)),
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
    `CommitmentDiscountQuantity` Nullable(Decimal(38, 10)) CODEC(ZSTD(1)),
    `CommitmentDiscountStatus` LowCardinality(Nullable(String)),
    `CommitmentDiscountType` LowCardinality(Nullable(String)),
    `CommitmentDiscountUnit` LowCardinality(Nullable(String)),
    `ConsumedQuantity` Nullable(Decimal(38, 10)) CODEC(ZSTD(1)),
    `ConsumedUnit` LowCardinality(Nullable(String)),
    `ContractedCost` Decimal(38, 10) CODEC(ZSTD(1)),
    `ContractedUnitPrice` Nullable(Decimal(38, 10)) CODEC(ZSTD(1)),
    `EffectiveCost` Decimal(38, 10) CODEC(ZSTD(1)),
    `InvoiceId` Nullable(String) CODEC(ZSTD(1)),
    `InvoiceIssuerName` LowCardinality(String),
    `ListCost` Decimal(38, 10) CODEC(ZSTD(1)),
    `ListUnitPrice` Nullable(Decimal(38, 10)) CODEC(ZSTD(1)),
    `PricingCategory` LowCardinality(Nullable(String)),
    `PricingCurrency` LowCardinality(Nullable(String)),
    `PricingCurrencyContractedUnitPrice` Nullable(Decimal(38, 10)) CODEC(ZSTD(1)),
    `PricingCurrencyEffectiveCost` Nullable(Decimal(38, 10)) CODEC(ZSTD(1)),
    `PricingCurrencyListUnitPrice` Nullable(Decimal(38, 10)) CODEC(ZSTD(1)),
    `PricingQuantity` Nullable(Decimal(38, 10)) CODEC(ZSTD(1)),
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
    `SkuPriceDetails` Nullable(String) CODEC(ZSTD(3)),
    `SkuPriceId` Nullable(String) CODEC(ZSTD(1)),
    `SubAccountId` LowCardinality(Nullable(String)),
    `SubAccountName` LowCardinality(Nullable(String)),
    `SubAccountType` LowCardinality(Nullable(String)),
    `Tags` Nullable(String) CODEC(ZSTD(3)),
    `ServiceProviderName` LowCardinality(Nullable(String)),
    `HostProviderName` LowCardinality(Nullable(String)),
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
PARTITION BY (toYYYYMM(BillingPeriodStart), x_Source)
ORDER BY (x_Provider, BillingAccountId, ServiceName, ChargePeriodStart, x_FileId, x_RowNumber)
SETTINGS non_replicated_deduplication_window = {dedup_window};

CREATE TABLE {db}.rollup_day
(
    `Day` Date,
    `BillingMonth` Date,
    `x_Source` LowCardinality(String),
    `ProviderName` LowCardinality(String),
    `BillingAccountId` LowCardinality(String),
    `SubAccountId` LowCardinality(String),
    `ServiceCategory` LowCardinality(String),
    `ServiceName` LowCardinality(String),
    `RegionId` LowCardinality(String),
    `ChargeCategory` LowCardinality(String),
    `PricingCategory` LowCardinality(String),
    `CommitmentDiscountType` LowCardinality(String),
    `CommitmentDiscountStatus` LowCardinality(String),
    `ConsumedUnit` LowCardinality(String),
    `BillingCurrency` LowCardinality(String),
    `BilledCost` Decimal(38, 10),
    `EffectiveCost` Decimal(38, 10),
    `ListCost` Decimal(38, 10),
    `ContractedCost` Decimal(38, 10),
    `ConsumedQuantity` Decimal(38, 10),
    `Rows` UInt64
)
ENGINE = SummingMergeTree
PARTITION BY (toYYYYMM(BillingMonth), x_Source)
ORDER BY (Day, ProviderName, BillingAccountId, SubAccountId, ServiceCategory, ServiceName, RegionId, ChargeCategory, PricingCategory, CommitmentDiscountType, CommitmentDiscountStatus, ConsumedUnit, BillingCurrency)
SETTINGS non_replicated_deduplication_window = {dedup_window};

CREATE TABLE {db}.rollup_month
(
    `Month` Date,
    `BillingMonth` Date,
    `x_Source` LowCardinality(String),
    `ProviderName` LowCardinality(String),
    `BillingAccountId` LowCardinality(String),
    `SubAccountId` LowCardinality(String),
    `ServiceCategory` LowCardinality(String),
    `ServiceName` LowCardinality(String),
    `RegionId` LowCardinality(String),
    `ChargeCategory` LowCardinality(String),
    `PricingCategory` LowCardinality(String),
    `CommitmentDiscountType` LowCardinality(String),
    `CommitmentDiscountStatus` LowCardinality(String),
    `ConsumedUnit` LowCardinality(String),
    `BillingCurrency` LowCardinality(String),
    `BilledCost` Decimal(38, 10),
    `EffectiveCost` Decimal(38, 10),
    `ListCost` Decimal(38, 10),
    `ContractedCost` Decimal(38, 10),
    `ConsumedQuantity` Decimal(38, 10),
    `Rows` UInt64
)
ENGINE = SummingMergeTree
PARTITION BY (toYYYYMM(BillingMonth), x_Source)
ORDER BY (Month, ProviderName, BillingAccountId, SubAccountId, ServiceCategory, ServiceName, RegionId, ChargeCategory, PricingCategory, CommitmentDiscountType, CommitmentDiscountStatus, ConsumedUnit, BillingCurrency)
SETTINGS non_replicated_deduplication_window = {dedup_window};

CREATE TABLE {db}.rollup_resource_month
(
    `Month` Date,
    `BillingMonth` Date,
    `x_Source` LowCardinality(String),
    `ProviderName` LowCardinality(String),
    `BillingAccountId` LowCardinality(String),
    `SubAccountId` LowCardinality(String),
    `ServiceName` LowCardinality(String),
    `RegionId` LowCardinality(String),
    `ResourceId` LowCardinality(String),
    `ResourceName` LowCardinality(String),
    `ResourceType` LowCardinality(String),
    `BillingCurrency` LowCardinality(String),
    `BilledCost` Decimal(38, 10),
    `EffectiveCost` Decimal(38, 10),
    `ListCost` Decimal(38, 10),
    `ContractedCost` Decimal(38, 10),
    `ConsumedQuantity` Decimal(38, 10),
    `Rows` UInt64
)
ENGINE = SummingMergeTree
PARTITION BY (toYYYYMM(BillingMonth), x_Source)
ORDER BY (Month, ProviderName, BillingAccountId, SubAccountId, ServiceName, RegionId, ResourceId, ResourceName, ResourceType, BillingCurrency)
SETTINGS non_replicated_deduplication_window = {dedup_window};

CREATE TABLE {db}.rollup_tag_day
(
    `Day` Date,
    `BillingMonth` Date,
    `x_Source` LowCardinality(String),
    `ProviderName` LowCardinality(String),
    `BillingAccountId` LowCardinality(String),
    `SubAccountId` LowCardinality(String),
    `ServiceName` LowCardinality(String),
    `BillingCurrency` LowCardinality(String),
    `TagKey` LowCardinality(String),
    `TagValue` LowCardinality(String),
    `BilledCost` Decimal(38, 10),
    `EffectiveCost` Decimal(38, 10),
    `ListCost` Decimal(38, 10),
    `ContractedCost` Decimal(38, 10),
    `ConsumedQuantity` Decimal(38, 10),
    `Rows` UInt64
)
ENGINE = SummingMergeTree
PARTITION BY (toYYYYMM(BillingMonth), x_Source)
ORDER BY (Day, ProviderName, BillingAccountId, SubAccountId, ServiceName, BillingCurrency, TagKey, TagValue)
SETTINGS non_replicated_deduplication_window = {dedup_window};

CREATE TABLE {db}.rollup_day_staging
(
    `Day` Date,
    `BillingMonth` Date,
    `x_Source` LowCardinality(String),
    `ProviderName` LowCardinality(String),
    `BillingAccountId` LowCardinality(String),
    `SubAccountId` LowCardinality(String),
    `ServiceCategory` LowCardinality(String),
    `ServiceName` LowCardinality(String),
    `RegionId` LowCardinality(String),
    `ChargeCategory` LowCardinality(String),
    `PricingCategory` LowCardinality(String),
    `CommitmentDiscountType` LowCardinality(String),
    `CommitmentDiscountStatus` LowCardinality(String),
    `ConsumedUnit` LowCardinality(String),
    `BillingCurrency` LowCardinality(String),
    `BilledCost` Decimal(38, 10),
    `EffectiveCost` Decimal(38, 10),
    `ListCost` Decimal(38, 10),
    `ContractedCost` Decimal(38, 10),
    `ConsumedQuantity` Decimal(38, 10),
    `Rows` UInt64
)
ENGINE = SummingMergeTree
PARTITION BY (toYYYYMM(BillingMonth), x_Source)
ORDER BY (Day, ProviderName, BillingAccountId, SubAccountId, ServiceCategory, ServiceName, RegionId, ChargeCategory, PricingCategory, CommitmentDiscountType, CommitmentDiscountStatus, ConsumedUnit, BillingCurrency)
SETTINGS non_replicated_deduplication_window = {dedup_window};

CREATE TABLE {db}.rollup_month_staging
(
    `Month` Date,
    `BillingMonth` Date,
    `x_Source` LowCardinality(String),
    `ProviderName` LowCardinality(String),
    `BillingAccountId` LowCardinality(String),
    `SubAccountId` LowCardinality(String),
    `ServiceCategory` LowCardinality(String),
    `ServiceName` LowCardinality(String),
    `RegionId` LowCardinality(String),
    `ChargeCategory` LowCardinality(String),
    `PricingCategory` LowCardinality(String),
    `CommitmentDiscountType` LowCardinality(String),
    `CommitmentDiscountStatus` LowCardinality(String),
    `ConsumedUnit` LowCardinality(String),
    `BillingCurrency` LowCardinality(String),
    `BilledCost` Decimal(38, 10),
    `EffectiveCost` Decimal(38, 10),
    `ListCost` Decimal(38, 10),
    `ContractedCost` Decimal(38, 10),
    `ConsumedQuantity` Decimal(38, 10),
    `Rows` UInt64
)
ENGINE = SummingMergeTree
PARTITION BY (toYYYYMM(BillingMonth), x_Source)
ORDER BY (Month, ProviderName, BillingAccountId, SubAccountId, ServiceCategory, ServiceName, RegionId, ChargeCategory, PricingCategory, CommitmentDiscountType, CommitmentDiscountStatus, ConsumedUnit, BillingCurrency)
SETTINGS non_replicated_deduplication_window = {dedup_window};

CREATE TABLE {db}.rollup_resource_month_staging
(
    `Month` Date,
    `BillingMonth` Date,
    `x_Source` LowCardinality(String),
    `ProviderName` LowCardinality(String),
    `BillingAccountId` LowCardinality(String),
    `SubAccountId` LowCardinality(String),
    `ServiceName` LowCardinality(String),
    `RegionId` LowCardinality(String),
    `ResourceId` LowCardinality(String),
    `ResourceName` LowCardinality(String),
    `ResourceType` LowCardinality(String),
    `BillingCurrency` LowCardinality(String),
    `BilledCost` Decimal(38, 10),
    `EffectiveCost` Decimal(38, 10),
    `ListCost` Decimal(38, 10),
    `ContractedCost` Decimal(38, 10),
    `ConsumedQuantity` Decimal(38, 10),
    `Rows` UInt64
)
ENGINE = SummingMergeTree
PARTITION BY (toYYYYMM(BillingMonth), x_Source)
ORDER BY (Month, ProviderName, BillingAccountId, SubAccountId, ServiceName, RegionId, ResourceId, ResourceName, ResourceType, BillingCurrency)
SETTINGS non_replicated_deduplication_window = {dedup_window};

CREATE TABLE {db}.rollup_tag_day_staging
(
    `Day` Date,
    `BillingMonth` Date,
    `x_Source` LowCardinality(String),
    `ProviderName` LowCardinality(String),
    `BillingAccountId` LowCardinality(String),
    `SubAccountId` LowCardinality(String),
    `ServiceName` LowCardinality(String),
    `BillingCurrency` LowCardinality(String),
    `TagKey` LowCardinality(String),
    `TagValue` LowCardinality(String),
    `BilledCost` Decimal(38, 10),
    `EffectiveCost` Decimal(38, 10),
    `ListCost` Decimal(38, 10),
    `ContractedCost` Decimal(38, 10),
    `ConsumedQuantity` Decimal(38, 10),
    `Rows` UInt64
)
ENGINE = SummingMergeTree
PARTITION BY (toYYYYMM(BillingMonth), x_Source)
ORDER BY (Day, ProviderName, BillingAccountId, SubAccountId, ServiceName, BillingCurrency, TagKey, TagValue)
SETTINGS non_replicated_deduplication_window = {dedup_window};

CREATE MATERIALIZED VIEW {db}.mv_rollup_day TO {db}.rollup_day AS
SELECT
    toDate(ChargePeriodStart) AS Day,
    toDate(toStartOfMonth(BillingPeriodStart)) AS BillingMonth,
    x_Source,
    ifNull(ProviderName, '') AS ProviderName,
    ifNull(BillingAccountId, '') AS BillingAccountId,
    ifNull(SubAccountId, '') AS SubAccountId,
    ifNull(ServiceCategory, '') AS ServiceCategory,
    ifNull(ServiceName, '') AS ServiceName,
    ifNull(RegionId, '') AS RegionId,
    ifNull(ChargeCategory, '') AS ChargeCategory,
    ifNull(PricingCategory, '') AS PricingCategory,
    ifNull(CommitmentDiscountType, '') AS CommitmentDiscountType,
    ifNull(CommitmentDiscountStatus, '') AS CommitmentDiscountStatus,
    ifNull(ConsumedUnit, '') AS ConsumedUnit,
    ifNull(BillingCurrency, '') AS BillingCurrency,
    sum(BilledCost) AS BilledCost, sum(EffectiveCost) AS EffectiveCost, sum(ListCost) AS ListCost,
    sum(ContractedCost) AS ContractedCost, sum(ifNull(ConsumedQuantity, 0)) AS ConsumedQuantity, count() AS Rows
FROM {db}.focus
GROUP BY Day, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceCategory, ServiceName, RegionId, ChargeCategory, PricingCategory, CommitmentDiscountType, CommitmentDiscountStatus, ConsumedUnit, BillingCurrency;

CREATE MATERIALIZED VIEW {db}.mv_rollup_month TO {db}.rollup_month AS
SELECT toStartOfMonth(Day) AS Month, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceCategory, ServiceName, RegionId, ChargeCategory, PricingCategory, CommitmentDiscountType, CommitmentDiscountStatus, ConsumedUnit, BillingCurrency, sum(BilledCost) AS BilledCost, sum(EffectiveCost) AS EffectiveCost, sum(ListCost) AS ListCost, sum(ContractedCost) AS ContractedCost, sum(ConsumedQuantity) AS ConsumedQuantity, sum(Rows) AS Rows
FROM {db}.rollup_day
GROUP BY Month, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceCategory, ServiceName, RegionId, ChargeCategory, PricingCategory, CommitmentDiscountType, CommitmentDiscountStatus, ConsumedUnit, BillingCurrency;

CREATE MATERIALIZED VIEW {db}.mv_rollup_resource_month TO {db}.rollup_resource_month AS
SELECT
    toStartOfMonth(ChargePeriodStart) AS Month,
    toDate(toStartOfMonth(BillingPeriodStart)) AS BillingMonth,
    x_Source,
    ifNull(ProviderName, '') AS ProviderName,
    ifNull(BillingAccountId, '') AS BillingAccountId,
    ifNull(SubAccountId, '') AS SubAccountId,
    ifNull(ServiceName, '') AS ServiceName,
    ifNull(RegionId, '') AS RegionId,
    ifNull(ResourceId, '') AS ResourceId,
    ifNull(ResourceName, '') AS ResourceName,
    ifNull(ResourceType, '') AS ResourceType,
    ifNull(BillingCurrency, '') AS BillingCurrency,
    sum(BilledCost) AS BilledCost, sum(EffectiveCost) AS EffectiveCost, sum(ListCost) AS ListCost,
    sum(ContractedCost) AS ContractedCost, sum(ifNull(ConsumedQuantity, 0)) AS ConsumedQuantity, count() AS Rows
FROM {db}.focus
GROUP BY Month, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceName, RegionId, ResourceId, ResourceName, ResourceType, BillingCurrency;

CREATE MATERIALIZED VIEW {db}.mv_rollup_tag_day TO {db}.rollup_tag_day AS
SELECT Day, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceName, BillingCurrency, tag.1 AS TagKey, tag.2 AS TagValue, sum(BilledCost) AS BilledCost, sum(EffectiveCost) AS EffectiveCost, sum(ListCost) AS ListCost, sum(ContractedCost) AS ContractedCost, sum(ConsumedQuantity) AS ConsumedQuantity, sum(Rows) AS Rows
FROM
(
    SELECT
        toDate(ChargePeriodStart) AS Day,
        toDate(toStartOfMonth(BillingPeriodStart)) AS BillingMonth,
        x_Source,
        ifNull(ProviderName, '') AS ProviderName,
        ifNull(BillingAccountId, '') AS BillingAccountId,
        ifNull(SubAccountId, '') AS SubAccountId,
        ifNull(ServiceName, '') AS ServiceName,
        ifNull(BillingCurrency, '') AS BillingCurrency,
        assumeNotNull(Tags) AS TagsText,
        sum(BilledCost) AS BilledCost, sum(EffectiveCost) AS EffectiveCost, sum(ListCost) AS ListCost,
    sum(ContractedCost) AS ContractedCost, sum(ifNull(ConsumedQuantity, 0)) AS ConsumedQuantity, count() AS Rows
    FROM {db}.focus
    WHERE Tags IS NOT NULL
    GROUP BY Day, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceName, BillingCurrency, TagsText
)
ARRAY JOIN JSONExtractKeysAndValues(TagsText, 'String') AS tag
GROUP BY Day, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceName, BillingCurrency, TagKey, TagValue;

CREATE MATERIALIZED VIEW {db}.mv_rollup_day_staging TO {db}.rollup_day_staging AS
SELECT
    toDate(ChargePeriodStart) AS Day,
    toDate(toStartOfMonth(BillingPeriodStart)) AS BillingMonth,
    x_Source,
    ifNull(ProviderName, '') AS ProviderName,
    ifNull(BillingAccountId, '') AS BillingAccountId,
    ifNull(SubAccountId, '') AS SubAccountId,
    ifNull(ServiceCategory, '') AS ServiceCategory,
    ifNull(ServiceName, '') AS ServiceName,
    ifNull(RegionId, '') AS RegionId,
    ifNull(ChargeCategory, '') AS ChargeCategory,
    ifNull(PricingCategory, '') AS PricingCategory,
    ifNull(CommitmentDiscountType, '') AS CommitmentDiscountType,
    ifNull(CommitmentDiscountStatus, '') AS CommitmentDiscountStatus,
    ifNull(ConsumedUnit, '') AS ConsumedUnit,
    ifNull(BillingCurrency, '') AS BillingCurrency,
    sum(BilledCost) AS BilledCost, sum(EffectiveCost) AS EffectiveCost, sum(ListCost) AS ListCost,
    sum(ContractedCost) AS ContractedCost, sum(ifNull(ConsumedQuantity, 0)) AS ConsumedQuantity, count() AS Rows
FROM {db}.focus_staging
GROUP BY Day, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceCategory, ServiceName, RegionId, ChargeCategory, PricingCategory, CommitmentDiscountType, CommitmentDiscountStatus, ConsumedUnit, BillingCurrency;

CREATE MATERIALIZED VIEW {db}.mv_rollup_month_staging TO {db}.rollup_month_staging AS
SELECT toStartOfMonth(Day) AS Month, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceCategory, ServiceName, RegionId, ChargeCategory, PricingCategory, CommitmentDiscountType, CommitmentDiscountStatus, ConsumedUnit, BillingCurrency, sum(BilledCost) AS BilledCost, sum(EffectiveCost) AS EffectiveCost, sum(ListCost) AS ListCost, sum(ContractedCost) AS ContractedCost, sum(ConsumedQuantity) AS ConsumedQuantity, sum(Rows) AS Rows
FROM {db}.rollup_day_staging
GROUP BY Month, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceCategory, ServiceName, RegionId, ChargeCategory, PricingCategory, CommitmentDiscountType, CommitmentDiscountStatus, ConsumedUnit, BillingCurrency;

CREATE MATERIALIZED VIEW {db}.mv_rollup_resource_month_staging TO {db}.rollup_resource_month_staging AS
SELECT
    toStartOfMonth(ChargePeriodStart) AS Month,
    toDate(toStartOfMonth(BillingPeriodStart)) AS BillingMonth,
    x_Source,
    ifNull(ProviderName, '') AS ProviderName,
    ifNull(BillingAccountId, '') AS BillingAccountId,
    ifNull(SubAccountId, '') AS SubAccountId,
    ifNull(ServiceName, '') AS ServiceName,
    ifNull(RegionId, '') AS RegionId,
    ifNull(ResourceId, '') AS ResourceId,
    ifNull(ResourceName, '') AS ResourceName,
    ifNull(ResourceType, '') AS ResourceType,
    ifNull(BillingCurrency, '') AS BillingCurrency,
    sum(BilledCost) AS BilledCost, sum(EffectiveCost) AS EffectiveCost, sum(ListCost) AS ListCost,
    sum(ContractedCost) AS ContractedCost, sum(ifNull(ConsumedQuantity, 0)) AS ConsumedQuantity, count() AS Rows
FROM {db}.focus_staging
GROUP BY Month, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceName, RegionId, ResourceId, ResourceName, ResourceType, BillingCurrency;

CREATE MATERIALIZED VIEW {db}.mv_rollup_tag_day_staging TO {db}.rollup_tag_day_staging AS
SELECT Day, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceName, BillingCurrency, tag.1 AS TagKey, tag.2 AS TagValue, sum(BilledCost) AS BilledCost, sum(EffectiveCost) AS EffectiveCost, sum(ListCost) AS ListCost, sum(ContractedCost) AS ContractedCost, sum(ConsumedQuantity) AS ConsumedQuantity, sum(Rows) AS Rows
FROM
(
    SELECT
        toDate(ChargePeriodStart) AS Day,
        toDate(toStartOfMonth(BillingPeriodStart)) AS BillingMonth,
        x_Source,
        ifNull(ProviderName, '') AS ProviderName,
        ifNull(BillingAccountId, '') AS BillingAccountId,
        ifNull(SubAccountId, '') AS SubAccountId,
        ifNull(ServiceName, '') AS ServiceName,
        ifNull(BillingCurrency, '') AS BillingCurrency,
        assumeNotNull(Tags) AS TagsText,
        sum(BilledCost) AS BilledCost, sum(EffectiveCost) AS EffectiveCost, sum(ListCost) AS ListCost,
    sum(ContractedCost) AS ContractedCost, sum(ifNull(ConsumedQuantity, 0)) AS ConsumedQuantity, count() AS Rows
    FROM {db}.focus_staging
    WHERE Tags IS NOT NULL
    GROUP BY Day, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceName, BillingCurrency, TagsText
)
ARRAY JOIN JSONExtractKeysAndValues(TagsText, 'String') AS tag
GROUP BY Day, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceName, BillingCurrency, TagKey, TagValue;

INSERT INTO {db}.rollup_day
SELECT
    toDate(ChargePeriodStart) AS Day,
    toDate(toStartOfMonth(BillingPeriodStart)) AS BillingMonth,
    x_Source,
    ifNull(ProviderName, '') AS ProviderName,
    ifNull(BillingAccountId, '') AS BillingAccountId,
    ifNull(SubAccountId, '') AS SubAccountId,
    ifNull(ServiceCategory, '') AS ServiceCategory,
    ifNull(ServiceName, '') AS ServiceName,
    ifNull(RegionId, '') AS RegionId,
    ifNull(ChargeCategory, '') AS ChargeCategory,
    ifNull(PricingCategory, '') AS PricingCategory,
    ifNull(CommitmentDiscountType, '') AS CommitmentDiscountType,
    ifNull(CommitmentDiscountStatus, '') AS CommitmentDiscountStatus,
    ifNull(ConsumedUnit, '') AS ConsumedUnit,
    ifNull(BillingCurrency, '') AS BillingCurrency,
    sum(BilledCost) AS BilledCost, sum(EffectiveCost) AS EffectiveCost, sum(ListCost) AS ListCost,
    sum(ContractedCost) AS ContractedCost, sum(ifNull(ConsumedQuantity, 0)) AS ConsumedQuantity, count() AS Rows
FROM {db}.focus
GROUP BY Day, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceCategory, ServiceName, RegionId, ChargeCategory, PricingCategory, CommitmentDiscountType, CommitmentDiscountStatus, ConsumedUnit, BillingCurrency;

INSERT INTO {db}.rollup_month
SELECT
    toStartOfMonth(ChargePeriodStart) AS Month,
    toDate(toStartOfMonth(BillingPeriodStart)) AS BillingMonth,
    x_Source,
    ifNull(ProviderName, '') AS ProviderName,
    ifNull(BillingAccountId, '') AS BillingAccountId,
    ifNull(SubAccountId, '') AS SubAccountId,
    ifNull(ServiceCategory, '') AS ServiceCategory,
    ifNull(ServiceName, '') AS ServiceName,
    ifNull(RegionId, '') AS RegionId,
    ifNull(ChargeCategory, '') AS ChargeCategory,
    ifNull(PricingCategory, '') AS PricingCategory,
    ifNull(CommitmentDiscountType, '') AS CommitmentDiscountType,
    ifNull(CommitmentDiscountStatus, '') AS CommitmentDiscountStatus,
    ifNull(ConsumedUnit, '') AS ConsumedUnit,
    ifNull(BillingCurrency, '') AS BillingCurrency,
    sum(BilledCost) AS BilledCost, sum(EffectiveCost) AS EffectiveCost, sum(ListCost) AS ListCost,
    sum(ContractedCost) AS ContractedCost, sum(ifNull(ConsumedQuantity, 0)) AS ConsumedQuantity, count() AS Rows
FROM {db}.focus
GROUP BY Month, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceCategory, ServiceName, RegionId, ChargeCategory, PricingCategory, CommitmentDiscountType, CommitmentDiscountStatus, ConsumedUnit, BillingCurrency;

INSERT INTO {db}.rollup_resource_month
SELECT
    toStartOfMonth(ChargePeriodStart) AS Month,
    toDate(toStartOfMonth(BillingPeriodStart)) AS BillingMonth,
    x_Source,
    ifNull(ProviderName, '') AS ProviderName,
    ifNull(BillingAccountId, '') AS BillingAccountId,
    ifNull(SubAccountId, '') AS SubAccountId,
    ifNull(ServiceName, '') AS ServiceName,
    ifNull(RegionId, '') AS RegionId,
    ifNull(ResourceId, '') AS ResourceId,
    ifNull(ResourceName, '') AS ResourceName,
    ifNull(ResourceType, '') AS ResourceType,
    ifNull(BillingCurrency, '') AS BillingCurrency,
    sum(BilledCost) AS BilledCost, sum(EffectiveCost) AS EffectiveCost, sum(ListCost) AS ListCost,
    sum(ContractedCost) AS ContractedCost, sum(ifNull(ConsumedQuantity, 0)) AS ConsumedQuantity, count() AS Rows
FROM {db}.focus
GROUP BY Month, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceName, RegionId, ResourceId, ResourceName, ResourceType, BillingCurrency;

INSERT INTO {db}.rollup_tag_day
SELECT Day, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceName, BillingCurrency, tag.1 AS TagKey, tag.2 AS TagValue, sum(BilledCost) AS BilledCost, sum(EffectiveCost) AS EffectiveCost, sum(ListCost) AS ListCost, sum(ContractedCost) AS ContractedCost, sum(ConsumedQuantity) AS ConsumedQuantity, sum(Rows) AS Rows
FROM
(
    SELECT
        toDate(ChargePeriodStart) AS Day,
        toDate(toStartOfMonth(BillingPeriodStart)) AS BillingMonth,
        x_Source,
        ifNull(ProviderName, '') AS ProviderName,
        ifNull(BillingAccountId, '') AS BillingAccountId,
        ifNull(SubAccountId, '') AS SubAccountId,
        ifNull(ServiceName, '') AS ServiceName,
        ifNull(BillingCurrency, '') AS BillingCurrency,
        assumeNotNull(Tags) AS TagsText,
        sum(BilledCost) AS BilledCost, sum(EffectiveCost) AS EffectiveCost, sum(ListCost) AS ListCost,
    sum(ContractedCost) AS ContractedCost, sum(ifNull(ConsumedQuantity, 0)) AS ConsumedQuantity, count() AS Rows
    FROM {db}.focus
    WHERE Tags IS NOT NULL
    GROUP BY Day, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceName, BillingCurrency, TagsText
)
ARRAY JOIN JSONExtractKeysAndValues(TagsText, 'String') AS tag
GROUP BY Day, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceName, BillingCurrency, TagKey, TagValue;
