-- On Citus (SPEC §9), the first of the statements that reconcile one
-- account's key range [$3, $4) as of $5 (reconcile_decide_full.sql does
-- it in one statement on a single server; Citus
-- would run that one's data-modifying CTEs through the coordinator): it
-- decides every token of the range by the status rule (SPEC §2) and keeps
-- each decision with the stored status it replaces in reconcile_decided,
-- under run $1. Every table it reads is co-located on token_value but
-- customers, a reference table: one task per shard.
-- $2 account id.
INSERT INTO tokenevents_internal.reconcile_decided (run_id, account_id, token_type, token_value, token_id, status,
                                                   decided_by, event, event_created_at, event_expires_at, valid_until,
                                                   previous_status, is_new, differs)
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
), decided AS (
    -- The rule: a linked customer's status if set and not deleted at $5;
    -- else the deciding event's; else UNKNOWN. valid_until is when it would
    -- change on its own.
    SELECT f.account_id, f.token_type, f.token_value, f.token_id,
           CASE WHEN cu.customer_id IS NOT NULL THEN cu.status
                WHEN f.status IS NOT NULL THEN f.status
                ELSE 'UNKNOWN' END AS status,
           CASE WHEN cu.customer_id IS NOT NULL THEN 'customer'
                WHEN f.status IS NOT NULL THEN 'event'
                ELSE 'none' END AS decided_by,
           CASE WHEN cu.customer_id IS NULL THEN f.event END AS event,
           CASE WHEN cu.customer_id IS NULL THEN f.created_at END AS event_created_at,
           CASE WHEN cu.customer_id IS NULL THEN f.expires_at END AS event_expires_at,
           CASE WHEN cu.customer_id IS NOT NULL THEN cu.deleted_at
                ELSE LEAST(f.expires_at, f.next_at) END AS valid_until
    FROM facts f
    LEFT JOIN customers cu
           ON cu.account_id = f.account_id AND cu.customer_id = f.customer_id
          AND cu.status IS NOT NULL AND (cu.deleted_at IS NULL OR cu.deleted_at > $5)
), diff AS (
    SELECT d.*, coalesce(s.status, 'UNKNOWN') AS previous_status, s.account_id IS NULL AS is_new,
           (s.account_id IS NULL OR
            (s.token_id, s.status, s.decided_by, s.event, s.event_created_at, s.event_expires_at, s.valid_until)
            IS DISTINCT FROM
            (d.token_id, d.status, d.decided_by, d.event, d.event_created_at, d.event_expires_at, d.valid_until)) AS differs
    FROM decided d
    -- The range bounds let the planner read the range's stored statuses in
    -- key order and merge them, instead of probing once per token.
    LEFT JOIN token_statuses s
           ON s.account_id = d.account_id AND s.token_value = d.token_value AND s.token_type = d.token_type
          AND s.account_id = $2 AND s.token_value >= $3 AND s.token_value < $4
)
SELECT $1, account_id, token_type, token_value, token_id, status, decided_by, event, event_created_at,
       event_expires_at, valid_until, previous_status, is_new, differs
FROM diff
