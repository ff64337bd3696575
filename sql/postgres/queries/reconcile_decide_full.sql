-- Gathers, for every token of one account ($2) in the key range [$3, $4),
-- what the status rule (SPEC §2) needs as of $5 — the deciding event and the
-- next event not yet effective — in one ordered pass over the range's
-- events; reconcile_store.sql, appended, decides, records and stores.
-- $1 run id, $6 dry run.
WITH cand AS (
    SELECT t.account_id, t.token_type, t.token_value, t.id AS token_id, t.customer_id
    FROM tokens t
    WHERE t.account_id = $2 AND t.token_value >= $3 AND t.token_value < $4
), live AS (
    -- The deciding event: newest effective and unexpired, ties by event text.
    SELECT DISTINCT ON (account_id, token_value, token_type)
           account_id, token_value, token_type, event, status, created_at, expires_at
    FROM token_events
    WHERE account_id = $2 AND token_value >= $3 AND token_value < $4
      AND created_at <= $5 AND (expires_at IS NULL OR expires_at > $5)
    ORDER BY account_id, token_value, token_type, created_at DESC, event
), upcoming AS (
    SELECT account_id, token_value, token_type, min(created_at) AS next_at
    FROM token_events
    WHERE account_id = $2 AND token_value >= $3 AND token_value < $4 AND created_at > $5
    GROUP BY account_id, token_value, token_type
), facts AS (
    SELECT c.account_id, c.token_type, c.token_value, c.token_id, c.customer_id,
           l.event, l.status, l.created_at, l.expires_at, u.next_at
    FROM cand c
    LEFT JOIN live l
           ON l.account_id = c.account_id AND l.token_value = c.token_value AND l.token_type = c.token_type
    LEFT JOIN upcoming u
           ON u.account_id = c.account_id AND u.token_value = c.token_value AND u.token_type = c.token_type
