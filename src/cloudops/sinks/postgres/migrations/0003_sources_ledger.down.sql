-- scope: tenant
-- Reverts 0003: drops the file ledger and the sources (their rows are lost).
DROP TABLE IF EXISTS {schema}.file_ledger;
DROP TABLE IF EXISTS {schema}.sources;
