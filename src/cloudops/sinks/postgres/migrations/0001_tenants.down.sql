-- scope: public
-- Reverts 0001: drops the tenant registry (every tenant's row is lost; tenant schemas stay).
DROP TABLE {schema}.tenants;
