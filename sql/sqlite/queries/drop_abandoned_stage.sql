-- Drops the staged rows of sources that no longer exist (their import was
-- finished or discarded by another way out). The stage's source ids are
-- found by a skip scan of its key, one seek each, so that a large stage of
-- a source waiting to resume is not read.
WITH RECURSIVE s (id) AS (
    SELECT min(source_id) FROM import_stage
    UNION ALL
    SELECT (SELECT min(source_id) FROM import_stage WHERE source_id > s.id) FROM s WHERE s.id IS NOT NULL
)
DELETE FROM import_stage
WHERE source_id IN (SELECT id FROM s WHERE id IS NOT NULL AND id NOT IN (SELECT id FROM import_sources))
