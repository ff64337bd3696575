-- Upserts the last occurrence (largest seq, then ord) of each event key of
-- one staged partition, in key order; unchanged events are not rewritten.
-- Returns one row per event written: 1 if inserted, 0 if updated.
-- ?1 source id, ?2 partition, ?3 run id, ?4 now.
INSERT INTO token_events AS e
       (account_id, token_type, token_value, event, created_at, status, expires_at, metadata, run_id)
SELECT account_id, token_type, token_value, event, created_at, status, expires_at, metadata, ?3
FROM (
    SELECT *, row_number() OVER (PARTITION BY account_id, token_value, token_type, event, created_at
                                 ORDER BY seq DESC, ord DESC) AS nth
    FROM import_stage
    WHERE source_id = ?1 AND partition = ?2
)
WHERE nth = 1
ORDER BY account_id, token_value, token_type, event, created_at
ON CONFLICT (account_id, token_value, token_type, event, created_at) DO UPDATE
   SET status = excluded.status,
       expires_at = excluded.expires_at,
       metadata = excluded.metadata,
       run_id = excluded.run_id,
       updated_at = ?4
 WHERE e.status IS NOT excluded.status
    OR e.expires_at IS NOT excluded.expires_at
    OR e.metadata IS NOT excluded.metadata
RETURNING updated_at IS NULL
