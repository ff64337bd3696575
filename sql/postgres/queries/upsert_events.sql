-- Upserts the staged batch into token_events and counts what happened.
-- $1 = run id.
-- d: the last occurrence (largest seq) of each key within the batch.
-- prev: keys this run already wrote in an earlier batch (a duplicate across
--       batches); the snapshot is taken before the INSERT changes anything.
-- up: rows inserted or changed; unchanged rows are not rewritten.
WITH d AS (
    SELECT DISTINCT ON (account_id, token_type, token_value, event, created_at)
           account_id, token_type, token_value, event, created_at, status, expires_at, metadata
    FROM stage_events
    ORDER BY account_id, token_type, token_value, event, created_at, seq DESC
), prev AS (
    SELECT e.account_id, e.token_type, e.token_value, e.event, e.created_at
    FROM token_events e
    JOIN d USING (account_id, token_type, token_value, event, created_at)
    WHERE e.run_id = $1
), up AS (
    INSERT INTO token_events AS e
           (account_id, token_type, token_value, event, created_at, status, expires_at, metadata, run_id)
    SELECT account_id, token_type, token_value, event, created_at, status, expires_at, metadata, $1
    FROM d
    ON CONFLICT (account_id, token_type, token_value, event, created_at) DO UPDATE
       SET status = EXCLUDED.status,
           expires_at = EXCLUDED.expires_at,
           metadata = EXCLUDED.metadata,
           run_id = EXCLUDED.run_id,
           updated_at = now(),
           written_xid = pg_current_xact_id()
       WHERE (e.status, e.expires_at, e.metadata)
             IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.expires_at, EXCLUDED.metadata)
    RETURNING (xmax = 0) AS inserted, account_id, token_type, token_value, event, created_at
)
SELECT (SELECT count(*) FROM d)                     AS distinct_keys,
       (SELECT count(*) FROM prev)                  AS dup_earlier,
       (SELECT count(*) FROM up WHERE inserted)     AS inserted,
       (SELECT count(*) FROM up WHERE NOT inserted) AS changed,
       (SELECT count(*) FROM up JOIN prev
               USING (account_id, token_type, token_value, event, created_at)) AS changed_dup
