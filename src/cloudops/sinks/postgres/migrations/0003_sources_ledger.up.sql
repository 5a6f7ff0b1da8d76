-- scope: tenant
-- 0003: billing sources and the file ledger of one tenant (issue 5).
-- A source is where a tenant's billing exports arrive; the ledger holds one row per
-- object version (source, key, version/ETag), so a file seen by both triggers or
-- delivered twice is parsed once in effect.
CREATE TABLE {schema}.sources
(
    id              text        PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_.-]{{0,63}}$'),
    provider        text        NOT NULL CHECK (provider IN ('aws', 'azure', 'gcp', 'oci', 'alibaba', 'focus')),
    bucket          text        NOT NULL,
    prefix          text        NOT NULL DEFAULT '',
    credentials_ref text,
    schedule_s      integer     CHECK (schedule_s IS NULL OR schedule_s >= 60),
    enabled         boolean     NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (bucket, prefix)
);

CREATE TABLE {schema}.file_ledger
(
    source_id       text        NOT NULL REFERENCES {schema}.sources (id),
    object_key      text        NOT NULL,
    version         text        NOT NULL,
    file_id         text        NOT NULL UNIQUE,
    url             text        NOT NULL,
    state           text        NOT NULL DEFAULT 'seen'
                                CHECK (state IN ('seen', 'parsing', 'parsed', 'loaded', 'reconciled', 'rejected', 'failed')),
    triggers        text[]      NOT NULL DEFAULT '{{}}',
    attempts        integer     NOT NULL DEFAULT 0,
    rows_in         bigint,
    rows_landed     bigint,
    rows_rejected   bigint,
    source_totals   jsonb,
    landed_totals   jsonb,
    last_error      text,
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_id, object_key, version)
);

CREATE INDEX file_ledger_state_idx ON {schema}.file_ledger (state, updated_at);
