-- Merges one staged partition of a source into tokens and token_events and
-- counts what happened. $1 partition, $2 source id, $3 run id.
-- d: the last occurrence (largest seq) of each event key, in key order, so
--    that index pages are visited in order.
-- tok: a token gets its id when its first event is stored.
-- up: events inserted or changed; unchanged events are not rewritten.
WITH d AS (
    SELECT DISTINCT ON (account_id, token_type, token_value, event, created_at)
           account_id, token_type, token_value, event, created_at, status, expires_at, metadata
    FROM import_stage
    WHERE partition = $1 AND source_id = $2
    ORDER BY account_id, token_type, token_value, event, created_at, seq DESC
), tok AS (
    INSERT INTO tokens (account_id, token_type, token_value)
    SELECT DISTINCT account_id, token_type, token_value FROM d
    ORDER BY 1, 2, 3
    ON CONFLICT DO NOTHING
    RETURNING 1
), up AS (
    INSERT INTO token_events AS e
           (account_id, token_type, token_value, event, created_at, status, expires_at, metadata, run_id)
    SELECT account_id, token_type, token_value, event, created_at, status, expires_at, metadata, $3
    FROM d
    ON CONFLICT (account_id, token_type, token_value, event, created_at) DO UPDATE
       SET status = EXCLUDED.status,
           expires_at = EXCLUDED.expires_at,
           metadata = EXCLUDED.metadata,
           run_id = EXCLUDED.run_id,
           updated_at = now(),
           written_xid = current_xid()
       WHERE (e.status, e.expires_at, e.metadata)
             IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.expires_at, EXCLUDED.metadata)
    RETURNING (xmax = 0) AS inserted
)
SELECT (SELECT count(*) FROM import_stage WHERE partition = $1 AND source_id = $2) AS staged,
       (SELECT count(*) FROM d)                     AS distinct_keys,
       (SELECT count(*) FROM tok)                   AS new_tokens,
       (SELECT count(*) FROM up WHERE inserted)     AS inserted,
       (SELECT count(*) FROM up WHERE NOT inserted) AS changed
