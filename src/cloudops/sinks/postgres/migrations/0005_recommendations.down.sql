-- scope: tenant
-- Reverts 0005: drops the recommendation lifecycle (its rows are lost).
DROP TABLE IF EXISTS {schema}.recommendations;
