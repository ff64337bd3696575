-- Recomputes the aggregated status (SPEC §2) of one key range of one
-- account's tokens as of $5, records the changes and, unless a dry run,
-- stores the new statuses.
-- $1 run id, $2 account id, $3 and $4 the token_value range [lo, hi),
-- $5 as-of, $6 dry run, $7 full (every token; else those in reconcile_work).
WITH cand AS (
    SELECT t.account_id, t.token_type, t.token_value, t.id AS token_id, t.customer_id
    FROM tokens t
    WHERE $7 AND t.account_id = $2 AND t.token_value >= $3 AND t.token_value < $4
    UNION ALL
    SELECT t.account_id, t.token_type, t.token_value, t.id, t.customer_id
    FROM reconcile_work w
    JOIN tokens t USING (account_id, token_type, token_value)
    WHERE NOT $7 AND w.run_id = $1 AND w.account_id = $2 AND w.token_value >= $3 AND w.token_value < $4
), live AS (
    -- The deciding event: newest effective and unexpired, ties by event text.
    SELECT DISTINCT ON (e.account_id, e.token_value, e.token_type)
           e.account_id, e.token_type, e.token_value, e.event, e.status, e.created_at, e.expires_at
    FROM cand c
    JOIN token_events e USING (account_id, token_type, token_value)
    WHERE e.created_at <= $5 AND (e.expires_at IS NULL OR e.expires_at > $5)
    ORDER BY e.account_id, e.token_value, e.token_type, e.created_at DESC, e.event
), upcoming AS (
    SELECT e.account_id, e.token_type, e.token_value, min(e.created_at) AS next_at
    FROM cand c
    JOIN token_events e USING (account_id, token_type, token_value)
    WHERE e.created_at > $5
    GROUP BY 1, 2, 3
), decided AS (
    SELECT c.account_id, c.token_type, c.token_value, c.token_id,
           CASE WHEN cu.customer_id IS NOT NULL THEN cu.status
                WHEN l.status IS NOT NULL THEN l.status
                ELSE 'UNKNOWN' END AS status,
           CASE WHEN cu.customer_id IS NOT NULL THEN 'customer'
                WHEN l.status IS NOT NULL THEN 'event'
                ELSE 'none' END AS decided_by,
           CASE WHEN cu.customer_id IS NULL THEN l.event END AS event,
           CASE WHEN cu.customer_id IS NULL THEN l.created_at END AS event_created_at,
           CASE WHEN cu.customer_id IS NULL THEN l.expires_at END AS event_expires_at,
           CASE WHEN cu.customer_id IS NOT NULL THEN cu.deleted_at
                ELSE LEAST(l.expires_at, u.next_at) END AS valid_until
    FROM cand c
    LEFT JOIN customers cu
           ON cu.account_id = c.account_id AND cu.customer_id = c.customer_id
          AND cu.status IS NOT NULL AND (cu.deleted_at IS NULL OR cu.deleted_at > $5)
    LEFT JOIN live l
           ON l.account_id = c.account_id AND l.token_type = c.token_type AND l.token_value = c.token_value
    LEFT JOIN upcoming u
           ON u.account_id = c.account_id AND u.token_type = c.token_type AND u.token_value = c.token_value
), diff AS (
    SELECT d.*, coalesce(s.status, 'UNKNOWN') AS previous_status,
           (s.account_id IS NULL OR
            (s.token_id, s.status, s.decided_by, s.event, s.event_created_at, s.event_expires_at, s.valid_until)
            IS DISTINCT FROM
            (d.token_id, d.status, d.decided_by, d.event, d.event_created_at, d.event_expires_at, d.valid_until)) AS differs
    FROM decided d
    LEFT JOIN token_statuses s USING (account_id, token_type, token_value)
), changed AS (
    INSERT INTO reconcile_changes (run_id, account_id, token_type, token_value, token_id, previous_status,
                                   status, decided_by, event, event_created_at, event_expires_at, as_of)
    SELECT $1, account_id, token_type, token_value, token_id, previous_status,
           status, decided_by, event, event_created_at, event_expires_at, $5
    FROM diff
    WHERE status <> previous_status
    RETURNING previous_status, status
), stored AS (
    INSERT INTO token_statuses AS s (account_id, token_type, token_value, token_id, status, decided_by, event,
                                     event_created_at, event_expires_at, valid_until, reconciled_at, run_id)
    SELECT account_id, token_type, token_value, token_id, status, decided_by, event,
           event_created_at, event_expires_at, valid_until, $5, $1
    FROM diff
    WHERE differs AND NOT $6
    ORDER BY account_id, token_value, token_type
    ON CONFLICT (account_id, token_value, token_type) DO UPDATE
       SET token_id = EXCLUDED.token_id, status = EXCLUDED.status, decided_by = EXCLUDED.decided_by,
           event = EXCLUDED.event, event_created_at = EXCLUDED.event_created_at,
           event_expires_at = EXCLUDED.event_expires_at, valid_until = EXCLUDED.valid_until,
           reconciled_at = EXCLUDED.reconciled_at, run_id = EXCLUDED.run_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM diff)   AS examined,
       (SELECT count(*) FROM stored) AS stored,
       coalesce((SELECT jsonb_agg(jsonb_build_array(previous_status, status, n))
                 FROM (SELECT previous_status, status, count(*) AS n FROM changed GROUP BY 1, 2) t), '[]') AS transitions
