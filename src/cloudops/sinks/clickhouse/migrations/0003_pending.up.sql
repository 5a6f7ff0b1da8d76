-- 0003: pending period versions (issue 5, restatements).
-- Files of a restated billing period (one manifest version) land here, partitioned by
-- (billing month, source:version tag), so any number of versions can load side by side
-- without touching what queries see. When every file of the newest version is loaded and
-- reconciled, the version is copied into focus_staging (its materialised views fill the
-- staging rollups) and swapped into focus and every rollup with REPLACE PARTITION.
-- No materialised views read this table.
CREATE TABLE {db}.focus_pending AS {db}.focus_staging
ENGINE = MergeTree
PARTITION BY (toYYYYMM(BillingPeriodStart), x_Source)
ORDER BY (x_Source, x_FileId, x_RowNumber)
SETTINGS non_replicated_deduplication_window = {dedup_window};
