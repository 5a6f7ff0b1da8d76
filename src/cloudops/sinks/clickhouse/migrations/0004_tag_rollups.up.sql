-- 0004: tag rollups that answer long ranges and one tag key without reading the others (issue 4).
-- * rollup_tag_day (and its staging twin) re-ordered with TagKey first: a query is always on exactly
--   one tag key, so the primary index skips every other key's granules.
-- * rollup_tag_month (+ staging twin), fed from rollup_tag_day like rollup_month from rollup_day:
--   month-aligned ranges (the 365-day and month-over-month tag views) read ~30x fewer rows.
-- Both are partitioned by (billing month, source) like every period table, so restatements swap them.
-- Run with the loaders stopped: the tag-day views are re-created around the copy.

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
ORDER BY (TagKey, Day, ProviderName, BillingAccountId, SubAccountId, ServiceName, BillingCurrency, TagValue)
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
ORDER BY (TagKey, Day, ProviderName, BillingAccountId, SubAccountId, ServiceName, BillingCurrency, TagValue)
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

CREATE TABLE {db}.rollup_tag_month
(
    `Month` Date,
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
ORDER BY (TagKey, Month, ProviderName, BillingAccountId, SubAccountId, ServiceName, BillingCurrency, TagValue)
SETTINGS non_replicated_deduplication_window = {dedup_window};

CREATE MATERIALIZED VIEW {db}.mv_rollup_tag_month TO {db}.rollup_tag_month AS
SELECT toStartOfMonth(Day) AS Month, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceName, BillingCurrency, TagKey, TagValue, sum(BilledCost) AS BilledCost, sum(EffectiveCost) AS EffectiveCost, sum(ListCost) AS ListCost, sum(ContractedCost) AS ContractedCost, sum(ConsumedQuantity) AS ConsumedQuantity, sum(Rows) AS Rows
FROM {db}.rollup_tag_day
GROUP BY Month, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceName, BillingCurrency, TagKey, TagValue;

CREATE TABLE {db}.rollup_tag_month_staging
(
    `Month` Date,
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
ORDER BY (TagKey, Month, ProviderName, BillingAccountId, SubAccountId, ServiceName, BillingCurrency, TagValue)
SETTINGS non_replicated_deduplication_window = {dedup_window};

CREATE MATERIALIZED VIEW {db}.mv_rollup_tag_month_staging TO {db}.rollup_tag_month_staging AS
SELECT toStartOfMonth(Day) AS Month, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceName, BillingCurrency, TagKey, TagValue, sum(BilledCost) AS BilledCost, sum(EffectiveCost) AS EffectiveCost, sum(ListCost) AS ListCost, sum(ContractedCost) AS ContractedCost, sum(ConsumedQuantity) AS ConsumedQuantity, sum(Rows) AS Rows
FROM {db}.rollup_tag_day_staging
GROUP BY Month, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceName, BillingCurrency, TagKey, TagValue;

INSERT INTO {db}.rollup_tag_month
SELECT toStartOfMonth(Day) AS Month, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceName, BillingCurrency, TagKey, TagValue, sum(BilledCost) AS BilledCost, sum(EffectiveCost) AS EffectiveCost, sum(ListCost) AS ListCost, sum(ContractedCost) AS ContractedCost, sum(ConsumedQuantity) AS ConsumedQuantity, sum(Rows) AS Rows
FROM {db}.rollup_tag_day
GROUP BY Month, BillingMonth, x_Source, ProviderName, BillingAccountId, SubAccountId, ServiceName, BillingCurrency, TagKey, TagValue;
