-- scope: tenant
-- 0007: data-quality warnings in the file ledger (issue 10). An optional FOCUS value that
-- could not be read lands as null and is counted per FOCUS column: a JSON array of
-- {column, source, reason, rows, sample}, written when the file is parsed (null before).
ALTER TABLE {schema}.file_ledger ADD COLUMN IF NOT EXISTS warnings jsonb;
