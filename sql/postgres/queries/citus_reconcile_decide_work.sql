-- On Citus, as citus_reconcile_decide_full.sql, for the tokens an
-- incremental run collected in reconcile_work (reconcile_decide_work.sql
-- on a single server, which says how tokens are decided from their stored
-- status and new events). $1 run id, $2 account id, [$3, $4) key range,
-- $5 as-of.
INSERT INTO tokenevents_internal.reconcile_decided (run_id, account_id, token_type, token_value, token_id, status,
                                                   decided_by, event, event_created_at, event_expires_at, valid_until,
                                                   previous_status, is_new, differs)
WITH judged AS (
    SELECT w.account_id, w.token_type, w.token_value, s.token_id, s.decided_by, s.status, s.event,
           s.event_created_at, s.event_expires_at, s.valid_until,
           w.new_event, w.new_status, w.new_created_at, w.new_expires_at, w.new_next_at,
           (w.probe OR s.account_id IS NULL OR s.decided_by = 'customer' OR coalesce(s.valid_until <= $5, false)
            -- the stored deciding event rewritten: it may now expire
            OR EXISTS (SELECT 1 FROM unnest(w.new_events, w.new_created) AS k(event, created_at)
                        WHERE k.event = s.event AND k.created_at = s.event_created_at)) AS probe
    FROM tokenevents_internal.reconcile_work w
    LEFT JOIN token_statuses s
           ON s.account_id = w.account_id AND s.token_value = w.token_value AND s.token_type = w.token_type
    WHERE w.run_id = $1 AND w.account_id = $2 AND w.token_value >= $3 AND w.token_value < $4
), kept AS (
    -- newer: the newest new event in effect beats the stored deciding
    -- event (newest first, ties by event text), or there was none.
    SELECT j.*,
           j.new_event IS NOT NULL AND (j.decided_by = 'none' OR j.new_created_at > j.event_created_at
                                        OR (j.new_created_at = j.event_created_at AND j.new_event < j.event)) AS newer,
           -- The first event after $5 among the old ones: valid_until is
           -- the lesser of it and the deciding event's expiry, so it is
           -- valid_until itself unless that is the expiry.
           j.decided_by = 'none' OR j.event_expires_at IS NULL OR j.valid_until < j.event_expires_at AS old_next_known
    FROM judged j
), facts AS (
    -- The probes, each taken only where needed (the outer condition is a
    -- one-time filter of the probe): the deciding event (newest effective
    -- and unexpired, ties by event text) and the next event not yet
    -- effective.
    SELECT k.account_id, k.token_type, k.token_value, coalesce(t.id, k.token_id) AS token_id, t.customer_id,
           CASE WHEN k.probe THEN l.event WHEN k.newer THEN k.new_event WHEN k.decided_by = 'event' THEN k.event END AS event,
           CASE WHEN k.probe THEN l.status WHEN k.newer THEN k.new_status WHEN k.decided_by = 'event' THEN k.status END AS status,
           CASE WHEN k.probe THEN l.created_at WHEN k.newer THEN k.new_created_at
                WHEN k.decided_by = 'event' THEN k.event_created_at END AS created_at,
           CASE WHEN k.probe THEN l.expires_at WHEN k.newer THEN k.new_expires_at
                WHEN k.decided_by = 'event' THEN k.event_expires_at END AS expires_at,
           CASE WHEN k.probe OR (k.newer AND NOT k.old_next_known) THEN u.next_at
                ELSE LEAST(k.valid_until, k.new_next_at) END AS next_at
    FROM kept k
    LEFT JOIN LATERAL (
        SELECT t.id, t.customer_id
        FROM tokens t
        WHERE k.probe AND t.account_id = k.account_id AND t.token_value = k.token_value AND t.token_type = k.token_type
        LIMIT 1 -- a subquery, not a join: k.probe then gates the probe
    ) t ON true
    LEFT JOIN LATERAL (
        SELECT e.event, e.status, e.created_at, e.expires_at
        FROM token_events e
        WHERE k.probe AND e.account_id = k.account_id AND e.token_value = k.token_value AND e.token_type = k.token_type
          AND e.created_at <= $5 AND (e.expires_at IS NULL OR e.expires_at > $5)
        ORDER BY e.created_at DESC, e.event
        LIMIT 1
    ) l ON true
    LEFT JOIN LATERAL (
        SELECT min(e.created_at) AS next_at
        FROM token_events e
        WHERE (k.probe OR (k.newer AND NOT k.old_next_known))
          AND e.account_id = k.account_id AND e.token_value = k.token_value AND e.token_type = k.token_type
          AND e.created_at > $5
    ) u ON true
    -- a token collected for probing whose token row is gone has nothing to decide
    WHERE NOT k.probe OR t.id IS NOT NULL
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
