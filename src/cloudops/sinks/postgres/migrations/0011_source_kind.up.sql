-- scope: tenant
-- 0011 (issue 15): where a source's objects live. kind picks the object-store implementation
-- (cloudops.sources.stores); options holds the kind's own settings (never a secret: credentials
-- stay behind credentials_ref), e.g. {"dataset": "focus"} for an Azure Cost Management export,
-- {"project": "..."} for GCS. Existing sources are S3 (or file://) sources.
ALTER TABLE {schema}.sources
    ADD COLUMN kind    text  NOT NULL DEFAULT 's3'
        CHECK (kind IN ('s3', 'azure-blob', 'gcs', 'bigquery', 'oci-object-storage', 'alibaba-oss')),
    ADD COLUMN options jsonb NOT NULL DEFAULT '{{}}'::jsonb CHECK (jsonb_typeof(options) = 'object');
