-- scope: tenant
-- Reverts 0013: targets name an App installation id only (the deployment's App).
ALTER TABLE {schema}.terraform_targets
    DROP CONSTRAINT IF EXISTS terraform_targets_app_installed,
    DROP CONSTRAINT IF EXISTS terraform_targets_app_complete,
    DROP COLUMN IF EXISTS app_key_ref,
    DROP COLUMN IF EXISTS app_id;
