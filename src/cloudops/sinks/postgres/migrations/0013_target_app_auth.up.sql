-- scope: tenant
-- 0013 (issue 11): a Terraform target authenticates as a GitHub App installation with its own App:
-- app_id and app_key_ref (env:NAME / file:/path naming the App's PEM private key, never the key).
-- Both unset with an installation id: the deployment's App (CLOUDOPS_GITHUB__APP_ID /
-- CLOUDOPS_GITHUB__APP_PRIVATE_KEY_REF). An App belongs to an installation id.
ALTER TABLE {schema}.terraform_targets
    ADD COLUMN app_id      bigint CHECK (app_id IS NULL OR app_id > 0),
    ADD COLUMN app_key_ref text   CHECK (app_key_ref IS NULL OR app_key_ref ~ '^(env|file):.+$'),
    ADD CONSTRAINT terraform_targets_app_complete CHECK ((app_id IS NULL) = (app_key_ref IS NULL)),
    ADD CONSTRAINT terraform_targets_app_installed CHECK (app_id IS NULL OR app_installation_id IS NOT NULL);
