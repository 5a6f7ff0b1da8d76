-- scope: tenant
-- Reverts 0010: forgets per-source endpoints, regions and external ids, and snoozes.
DROP TABLE IF EXISTS {schema}.terraform_targets;
DROP TRIGGER IF EXISTS audit_log_no_update_delete ON {schema}.audit_log;
DROP FUNCTION IF EXISTS {schema}.audit_log_append_only();
ALTER TABLE {schema}.recommendations DROP COLUMN IF EXISTS snoozed_until, DROP COLUMN IF EXISTS dismissed_savings;
ALTER TABLE {schema}.sources
    DROP COLUMN IF EXISTS endpoint_url, DROP COLUMN IF EXISTS region, DROP COLUMN IF EXISTS external_id;
