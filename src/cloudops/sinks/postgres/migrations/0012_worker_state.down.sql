-- scope: public
-- Reverts 0012: workers keep their state in memory again (lost on restart).
DROP TABLE IF EXISTS {schema}.worker_state;
