-- Collects the tokens of one account that an incremental reconcile must
-- recompute: their events, their customer link or their customer changed
-- since the previous reconcile's watermark, or their status is due to
-- change by --as-of. For each, what the new events say
-- (008_reconcile_work_probe.sql); probe is false for a token that only new
-- or changed events bring here: its stored status may still decide it.
-- $1 run id, $2 account id, $3 previous watermark (a write sequence number, 007_write_sequence.sql), $4 as-of.
INSERT INTO tokenevents_internal.reconcile_work (run_id, account_id, token_value, token_type, probe, new_event, new_status,
                                                 new_created_at, new_expires_at, new_next_at, new_events, new_created)
SELECT $1, account_id, token_value, token_type, bool_or(probe),
       -- the newest in effect: newest first, ties by event text (SPEC §2)
       (array_agg(event ORDER BY created_at DESC, event) FILTER (WHERE live))[1],
       (array_agg(status ORDER BY created_at DESC, event) FILTER (WHERE live))[1],
       (array_agg(created_at ORDER BY created_at DESC, event) FILTER (WHERE live))[1],
       (array_agg(expires_at ORDER BY created_at DESC, event) FILTER (WHERE live))[1],
       min(created_at) FILTER (WHERE created_at > $4),
       array_agg(event) FILTER (WHERE event IS NOT NULL),
       array_agg(created_at) FILTER (WHERE event IS NOT NULL)
FROM (
    SELECT account_id, token_value, token_type, false AS probe, event, status, created_at, expires_at,
           created_at <= $4 AND (expires_at IS NULL OR expires_at > $4) AS live
    FROM token_events WHERE written_seq >= $3 AND account_id = $2
    UNION ALL
    SELECT account_id, token_value, token_type, true, NULL, NULL, NULL, NULL, false
    FROM tokens WHERE written_seq >= $3 AND account_id = $2
    UNION ALL
    SELECT t.account_id, t.token_value, t.token_type, true, NULL, NULL, NULL, NULL, false
    FROM customers c
    JOIN tokens t ON t.account_id = c.account_id AND t.customer_id = c.customer_id
                 -- every bucket of tokens_customer (006_tokens_customer_buckets.sql): a probe each
                 AND (ascii(t.token_value) & 15) = ANY ('{0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15}'::int[])
    WHERE c.written_seq >= $3 AND c.account_id = $2
    UNION ALL
    SELECT account_id, token_value, token_type, true, NULL, NULL, NULL, NULL, false
    FROM token_statuses WHERE account_id = $2 AND valid_until <= $4
) changed
GROUP BY account_id, token_value, token_type
ON CONFLICT DO NOTHING
