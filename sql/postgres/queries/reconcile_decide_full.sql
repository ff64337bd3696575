-- Gathers, for every token of one account ($2) in the key range [$3, $4),
-- what the status rule (SPEC §2) needs as of $5 — the deciding event and the
-- next event not yet effective — in one ordered pass over the range's
-- events; then decides the statuses from these facts, compares them with
-- the stored ones, records the changes under run $1 and, unless a dry run
-- ($6), stores the new statuses; returns what it examined, stored and
-- changed. reconcile_decide_work.sql decides alike from other facts.
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
), changed AS (
    INSERT INTO reconcile_changes (run_id, account_id, token_type, token_value, token_id, previous_status,
                                   status, decided_by, event, event_created_at, event_expires_at, as_of)
    SELECT $1, account_id, token_type, token_value, token_id, previous_status,
           status, decided_by, event, event_created_at, event_expires_at, $5
    FROM diff
    WHERE status <> previous_status
    RETURNING previous_status, status
), inserted AS (
    -- The account's lock keeps other reconciles away: a plain insert of
    -- the tokens with no stored status is safe, and cheaper than an upsert.
    INSERT INTO token_statuses (account_id, token_type, token_value, token_id, status, decided_by, event,
                                event_created_at, event_expires_at, valid_until, reconciled_at, run_id)
    SELECT account_id, token_type, token_value, token_id, status, decided_by, event,
           event_created_at, event_expires_at, valid_until, $5, $1
    FROM diff
    WHERE is_new AND NOT $6
    ORDER BY account_id, token_value, token_type
    RETURNING 1
), updated AS (
    UPDATE token_statuses s
       SET token_id = d.token_id, status = d.status, decided_by = d.decided_by, event = d.event,
           event_created_at = d.event_created_at, event_expires_at = d.event_expires_at,
           valid_until = d.valid_until, reconciled_at = $5, run_id = $1
      FROM diff d
     WHERE d.differs AND NOT d.is_new AND NOT $6
       AND s.account_id = d.account_id AND s.token_value = d.token_value AND s.token_type = d.token_type
    RETURNING 1
)
SELECT (SELECT count(*) FROM diff) AS examined,
       (SELECT count(*) FROM inserted) + (SELECT count(*) FROM updated) AS stored,
       coalesce((SELECT jsonb_agg(jsonb_build_array(previous_status, status, n))
                 FROM (SELECT previous_status, status, count(*) AS n FROM changed GROUP BY 1, 2) t), '[]') AS transitions
