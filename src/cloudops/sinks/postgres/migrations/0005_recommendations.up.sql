-- scope: tenant
-- 0005: the recommendation lifecycle of one tenant (issue 6).
-- One row per recommendation fingerprint (tenant, kind, resource, proposed target): finding it
-- again updates the row. At most one recommendation per (kind, resource) is active (open or
-- pr_open): a new target supersedes the active one. States:
--   open -> pr_open -> merged | dismissed | superseded | expired (see sinks/postgres/recommendations.py)
CREATE TABLE {schema}.recommendations
(
    fingerprint      text        PRIMARY KEY,
    kind             text        NOT NULL,
    resource_id      text        NOT NULL,
    provider         text        NOT NULL,
    resource_type    text,
    state            text        NOT NULL DEFAULT 'open'
                                 CHECK (state IN ('open', 'pr_open', 'merged', 'dismissed', 'superseded', 'expired')),
    payload          jsonb       NOT NULL,
    monthly_savings  numeric     NOT NULL CHECK (monthly_savings >= 0),
    currency         text        NOT NULL,
    period           text        NOT NULL,
    first_seen       timestamptz NOT NULL DEFAULT now(),
    last_seen        timestamptz NOT NULL DEFAULT now(),
    times_seen       integer     NOT NULL DEFAULT 1 CHECK (times_seen >= 1),
    pr_number        integer,
    pr_url           text,
    branch           text,
    state_changed_at timestamptz NOT NULL DEFAULT now(),
    reason           text,
    superseded_by    text
);

CREATE UNIQUE INDEX recommendations_one_active_idx
    ON {schema}.recommendations (kind, resource_id) WHERE state IN ('open', 'pr_open');

CREATE INDEX recommendations_state_idx ON {schema}.recommendations (state, last_seen);
