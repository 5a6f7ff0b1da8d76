-- scope: tenant
-- Reverts 0006: snapshot sources become 'files' sources (every object appended as new data).
UPDATE {schema}.sources SET layout = 'files' WHERE layout = 'snapshot';
ALTER TABLE {schema}.sources DROP CONSTRAINT IF EXISTS sources_layout_check;
ALTER TABLE {schema}.sources ADD CONSTRAINT sources_layout_check CHECK (layout IN ('files', 'manifest'));
