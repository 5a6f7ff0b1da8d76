-- scope: public
-- Reverts 0009: drops every API token (they stop working).
DROP TABLE IF EXISTS {schema}.api_tokens;
