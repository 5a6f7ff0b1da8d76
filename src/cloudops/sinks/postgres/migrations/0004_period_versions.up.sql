-- scope: tenant
-- 0004: restated billing periods (issue 5).
-- A source's layout says how its exports arrive: 'files' (every object is new data,
-- loaded as it comes) or 'manifest' (a provider manifest, e.g. an AWS CUR assembly,
-- lists the files of one version of a billing period; a later manifest restates it).
-- period_versions holds every version seen of every (source, billing period); exactly
-- one per period is 'live' (swapped into the queried tables). Ledger rows of data files
-- name their period version.
ALTER TABLE {schema}.sources
    ADD COLUMN layout text NOT NULL DEFAULT 'files' CHECK (layout IN ('files', 'manifest'));

CREATE TABLE {schema}.period_versions
(
    source_id       text        NOT NULL REFERENCES {schema}.sources (id),
    period          date        NOT NULL CHECK (extract(day FROM period) = 1),
    version         text        NOT NULL,
    manifest_key    text        NOT NULL,
    delivered_at    timestamptz NOT NULL,
    files           text[]      NOT NULL,
    state           text        NOT NULL DEFAULT 'pending'
                                CHECK (state IN ('pending', 'promoting', 'live', 'superseded', 'failed')),
    rows_landed     bigint,
    landed_totals   jsonb,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    promoted_at     timestamptz,
    PRIMARY KEY (source_id, period, version)
);

CREATE UNIQUE INDEX period_versions_one_live ON {schema}.period_versions (source_id, period) WHERE state = 'live';

-- event: the announcement as first seen, so a file whose worker vanished can be announced again.
ALTER TABLE {schema}.file_ledger
    ADD COLUMN period date,
    ADD COLUMN period_version text,
    ADD COLUMN event jsonb;

CREATE INDEX file_ledger_period_idx ON {schema}.file_ledger (source_id, period, period_version);
