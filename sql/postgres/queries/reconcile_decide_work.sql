-- Gathers, for the tokens an incremental run collected in reconcile_work
-- for one account ($2) and key range [$3, $4), what the status rule
-- (SPEC §2) needs as of $5; reconcile_store.sql, appended, decides, records
-- and stores. $1 run id, $6 dry run.
--
-- A token that only new or changed events brought here (not probe) keeps
-- the stored status's deciding event unless a new event beats it: the
-- stored status holds as of the previous --as-of, which is not after $5
-- (reconcile.go recomputes everything otherwise), and as long as its
-- valid_until is after $5 no old event has become effective or expired
-- since, so the newest event in effect among the old ones is still the
-- stored one. That is decided from the token's stored status and what
-- reconcile_candidates.sql noted of its new events (read where they lie
-- together, at the end of token_events), instead of an index probe into
-- every place where a token's events and token row lie. The stored status cannot be kept when its customer decided it, or
-- when its deciding event was itself rewritten (it may now expire):
-- those, and the tokens marked probe, take the probes.
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
