-- scope: public
-- 0012 (issue 11): what a worker keeps between messages, so a restart (or another replica) picks
-- it up: the recommender's last run per tenant (coalescing), the proposer's last proposal per
-- fingerprint and its digest, the schedule's last listing per source. One row per (worker,
-- tenant, key); value is the worker's JSON. Public scope, because one worker serves every tenant
-- and reads its state across tenants in one query; a tenant's rows go with its public.tenants row.
CREATE TABLE {schema}.worker_state
(
    worker     text        NOT NULL CHECK (worker ~ '^[a-z][a-z0-9_.-]{{0,63}}$'),
    tenant     text        NOT NULL REFERENCES {schema}.tenants (id) ON DELETE CASCADE,
    key        text        NOT NULL CHECK (length(key) BETWEEN 1 AND 1000),
    value      jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (worker, tenant, key)
);

CREATE INDEX worker_state_tenant_idx ON {schema}.worker_state (tenant);
