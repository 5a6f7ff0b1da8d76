-- scope: tenant
-- Reverts 0011: every source is an S3 (or file://) source again.
ALTER TABLE {schema}.sources DROP COLUMN IF EXISTS options, DROP COLUMN IF EXISTS kind;
