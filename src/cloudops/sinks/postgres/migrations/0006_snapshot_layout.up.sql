-- scope: tenant
-- 0006: a third source layout, 'snapshot' (issue 5): every object is a complete copy of its
-- billing period so far (Azure month-to-date exports without a manifest, overwritten or
-- re-run daily; GCP/OCI periods re-exported whole). Each object version becomes a period
-- version of its own and the newest replaces the period, like a manifest-defined version.
ALTER TABLE {schema}.sources DROP CONSTRAINT IF EXISTS sources_layout_check;
ALTER TABLE {schema}.sources
    ADD CONSTRAINT sources_layout_check CHECK (layout IN ('files', 'manifest', 'snapshot'));
