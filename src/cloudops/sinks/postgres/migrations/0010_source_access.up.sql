-- scope: tenant
-- 0010 (issue 11): per-source object-store access and
-- snoozed recommendations, per-tenant Terraform targets (routing out).
-- A source names its own endpoint and region (no global endpoint); its credentials_ref says how
-- credentials are obtained (env:, file:, aws-role:), never the secret itself. external_id is the
-- sts:AssumeRole external id of an aws-role source (not a secret: the customer's trust policy
-- names it). A snoozed recommendation is dismissed until snoozed_until; dismissed_savings keeps
-- the savings it was dismissed at, so a material change can bring it back. The tenant audit log
-- becomes append-only like public.audit_log.
ALTER TABLE {schema}.sources
    ADD COLUMN endpoint_url text,
    ADD COLUMN region       text,
    ADD COLUMN external_id  text;

ALTER TABLE {schema}.recommendations
    ADD COLUMN snoozed_until     timestamptz,
    ADD COLUMN dismissed_savings numeric;

CREATE FUNCTION {schema}.audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON {schema}.audit_log
    FOR EACH ROW EXECUTE FUNCTION {schema}.audit_log_append_only();

-- Where a tenant's savings PRs go: its Terraform repository (owner/name), base branch and path,
-- the GitHub auth (an App installation id, or a token reference: env:NAME / file:/path, never the
-- token), its Terraform state location(s) and, for GitHub Enterprise or a local forge, the API root.
CREATE TABLE {schema}.terraform_targets
(
    id                  text        PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_.-]{{0,63}}$'),
    repository          text        NOT NULL CHECK (repository ~ '^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$'),
    base_branch         text        NOT NULL DEFAULT 'main',
    path                text        NOT NULL DEFAULT '',
    app_installation_id bigint,
    token_ref           text        CHECK (token_ref IS NULL OR token_ref ~ '^(env|file):.+$'),
    state_refs          text[]      NOT NULL DEFAULT '{{}}',
    api_url             text,
    enabled             boolean     NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (app_installation_id IS NOT NULL OR token_ref IS NOT NULL)
);

CREATE UNIQUE INDEX terraform_targets_repository_idx ON {schema}.terraform_targets (lower(repository), path);
