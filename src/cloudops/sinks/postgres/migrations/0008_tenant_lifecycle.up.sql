-- scope: public
-- 0008: tenants are first-class (issue 11).
-- A tenant is active, suspended (no ingest, no PRs), deleting (marked by `tenants delete`,
-- purged after purge_after) or deleted (a tombstone: everything it owned is gone; events still
-- in flight for it are dead-lettered as belonging to a deleted tenant).
-- public.audit_log is the service layer's audit trail (who, what, tenant, request id,
-- before/after). It lives outside the tenant schemas so the record of a tenant's deletion
-- outlives the tenant, and it is append-only: a trigger refuses UPDATE, DELETE and TRUNCATE.
ALTER TABLE {schema}.tenants
    ADD COLUMN state            text        NOT NULL DEFAULT 'active'
                                            CHECK (state IN ('active', 'suspended', 'deleting', 'deleted')),
    ADD COLUMN state_changed_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN purge_after      timestamptz,
    ADD COLUMN reason           text;

CREATE TABLE {schema}.audit_log
(
    id         bigserial   PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    tenant     text        NOT NULL,
    actor      text        NOT NULL,
    action     text        NOT NULL,
    target     text,
    request_id text,
    before     jsonb,
    after      jsonb
);

CREATE INDEX audit_log_tenant_at_idx ON {schema}.audit_log (tenant, at);

CREATE FUNCTION {schema}.audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON {schema}.audit_log
    FOR EACH ROW EXECUTE FUNCTION {schema}.audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON {schema}.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.audit_log_append_only();

-- GitHub webhook deliveries already handled (by X-GitHub-Delivery): a redelivered or replayed
-- webhook changes nothing twice.
CREATE TABLE {schema}.github_deliveries
(
    delivery_id text        PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    event       text        NOT NULL,
    repository  text,
    outcome     text
);
