-- Gathers, for the tokens an incremental run collected in reconcile_work
-- for one account ($2) and key range [$3, $4), what the status rule
-- (SPEC §2) needs as of $5; reconcile_store.sql, appended, decides, records
-- and stores.
-- $1 run id, $6 dry run.
WITH cand AS (
    SELECT t.account_id, t.token_type, t.token_value, t.id AS token_id, t.customer_id
    FROM tokenevents_internal.reconcile_work w
    JOIN tokens t USING (account_id, token_type, token_value)
    WHERE w.run_id = $1 AND w.account_id = $2 AND w.token_value >= $3 AND w.token_value < $4
), facts AS (
    -- Per token, one index probe each for the deciding event (newest
    -- effective and unexpired, ties by event text) and the next event not
    -- yet effective, so the plan does not depend on how many tokens there are.
    SELECT c.account_id, c.token_type, c.token_value, c.token_id, c.customer_id,
           l.event, l.status, l.created_at, l.expires_at, u.next_at
    FROM cand c
    LEFT JOIN LATERAL (
        SELECT e.event, e.status, e.created_at, e.expires_at
        FROM token_events e
        WHERE e.account_id = c.account_id AND e.token_value = c.token_value AND e.token_type = c.token_type
          AND e.created_at <= $5 AND (e.expires_at IS NULL OR e.expires_at > $5)
        ORDER BY e.created_at DESC, e.event
        LIMIT 1
    ) l ON true
    LEFT JOIN LATERAL (
        SELECT min(e.created_at) AS next_at
        FROM token_events e
        WHERE e.account_id = c.account_id AND e.token_value = c.token_value AND e.token_type = c.token_type
          AND e.created_at > $5
    ) u ON true
