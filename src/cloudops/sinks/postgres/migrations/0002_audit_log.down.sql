-- scope: tenant
-- Reverts 0002: drops the tenant's audit log (its rows are lost).
DROP TABLE {schema}.audit_log;
