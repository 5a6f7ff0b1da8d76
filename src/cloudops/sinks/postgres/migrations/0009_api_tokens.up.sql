-- scope: public
-- 0009: API tokens (issue 12). A token is `cop_<id>_<secret>`: `id` (16 hex digits) is public and
-- indexes the row; only the SHA-256 of the secret part is stored, so the token is shown once, at
-- creation, and never again. A token belongs to one tenant, or to no tenant (tenant IS NULL): a
-- platform-admin token. Public scope, because a request names no tenant: the token decides it.
-- Deleting a tenant's row deletes its tokens. Token mutations are audited in public.audit_log (0008).
CREATE TABLE {schema}.api_tokens
(
    id                 text        PRIMARY KEY CHECK (id ~ '^[0-9a-f]{{16}}$'),
    tenant             text        REFERENCES {schema}.tenants (id) ON DELETE CASCADE,
    name               text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    scopes             text[]      NOT NULL,
    secret_sha256      bytea       NOT NULL CHECK (length(secret_sha256) = 32),
    created_at         timestamptz NOT NULL DEFAULT now(),
    created_by         text        NOT NULL,
    expires_at         timestamptz,
    revoked_at         timestamptz,
    revoked_by         text,
    last_used_at       timestamptz,
    rate_limit_per_min integer     CHECK (rate_limit_per_min IS NULL OR rate_limit_per_min > 0)
);

CREATE INDEX api_tokens_tenant_idx ON {schema}.api_tokens (tenant, created_at);
