-- scope: tenant
-- Reverts 0007: the ledger forgets the data-quality warnings.
ALTER TABLE {schema}.file_ledger DROP COLUMN IF EXISTS warnings;
