-- Upserts the events in merge_last, in key order; unchanged events are not
-- rewritten. Returns one row per event written: 1 if inserted, 0 if updated.
-- ?1 run id, ?2 now.
INSERT INTO token_events AS e
       (account_id, token_type, token_value, event, created_at, status, expires_at, metadata, run_id)
SELECT account_id, token_type, token_value, event, created_at, status, expires_at, metadata, ?1
FROM temp.merge_last
WHERE true -- SQLite needs a WHERE before ON CONFLICT in INSERT … SELECT (parsing ambiguity)
ON CONFLICT (account_id, token_value, token_type, event, created_at) DO UPDATE
   SET status = excluded.status,
       expires_at = excluded.expires_at,
       metadata = excluded.metadata,
       run_id = excluded.run_id,
       updated_at = ?2
 WHERE e.status IS NOT excluded.status
    OR e.expires_at IS NOT excluded.expires_at
    OR e.metadata IS NOT excluded.metadata
RETURNING updated_at IS NULL
