-- scope: public
-- Reverts 0008: drops the service audit trail (its rows are lost) and the tenant lifecycle columns.
DROP TABLE IF EXISTS {schema}.github_deliveries;
DROP TABLE IF EXISTS {schema}.audit_log;
DROP FUNCTION IF EXISTS {schema}.audit_log_append_only();
ALTER TABLE {schema}.tenants
    DROP COLUMN IF EXISTS state, DROP COLUMN IF EXISTS state_changed_at, DROP COLUMN IF EXISTS purge_after,
    DROP COLUMN IF EXISTS reason;
