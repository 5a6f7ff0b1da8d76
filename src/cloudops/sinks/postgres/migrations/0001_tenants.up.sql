-- scope: public
-- 0001: the tenant registry of the control plane, shared by every tenant.
-- The check mirrors cloudops.settings.validate_tenant: [a-z][a-z0-9_]{0,47}.
CREATE TABLE {schema}.tenants
(
    id           text        PRIMARY KEY
                             CONSTRAINT tenants_id_format CHECK (id ~ '^[a-z][a-z0-9_]*$' AND length(id) <= 48),
    display_name text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
