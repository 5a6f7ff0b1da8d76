-- Reverts 0004: drops the tag month rollups; restores the 0002 order of rollup_tag_day (data kept).

DROP VIEW IF EXISTS {db}.mv_rollup_tag_month;

DROP TABLE IF EXISTS {db}.rollup_tag_month;

DROP VIEW IF EXISTS {db}.mv_rollup_tag_month_staging;

DROP TABLE IF EXISTS {db}.rollup_tag_month_staging;

DROP VIEW IF EXISTS {db}.mv_rollup_tag_day;

CREATE TABLE {db}.rollup_tag_day_v2
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

INSERT INTO {db}.rollup_tag_day_v2 SELECT * FROM {db}.rollup_tag_day;

EXCHANGE TABLES {db}.rollup_tag_day AND {db}.rollup_tag_day_v2;

DROP TABLE {db}.rollup_tag_day_v2;

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

DROP VIEW IF EXISTS {db}.mv_rollup_tag_day_staging;

CREATE TABLE {db}.rollup_tag_day_staging_v2
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

INSERT INTO {db}.rollup_tag_day_staging_v2 SELECT * FROM {db}.rollup_tag_day_staging;

EXCHANGE TABLES {db}.rollup_tag_day_staging AND {db}.rollup_tag_day_staging_v2;

DROP TABLE {db}.rollup_tag_day_staging_v2;

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
