-- scope: tenant
-- 0002: the append-only audit log of one tenant.
CREATE TABLE {schema}.audit_log
(
    id     bigserial   PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT now(),
    actor  text        NOT NULL,
    action text        NOT NULL,
    detail jsonb
);

CREATE INDEX audit_log_at_idx ON {schema}.audit_log (at);
