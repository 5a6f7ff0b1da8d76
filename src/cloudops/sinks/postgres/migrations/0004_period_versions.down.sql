-- scope: tenant
-- Reverts 0004: forgets period versions (the ClickHouse data stays as it is).
DROP INDEX IF EXISTS {schema}.file_ledger_period_idx;
ALTER TABLE {schema}.file_ledger DROP COLUMN IF EXISTS event, DROP COLUMN IF EXISTS period_version,
    DROP COLUMN IF EXISTS period;
DROP TABLE IF EXISTS {schema}.period_versions;
ALTER TABLE {schema}.sources DROP COLUMN IF EXISTS layout;
