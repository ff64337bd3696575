-- Collects the tokens of one account that an incremental reconcile must
-- recompute: their events, their customer link or their customer changed
-- since the previous reconcile's watermark, or their status is due to
-- change by --as-of.
-- $1 run id, $2 account id, $3 previous watermark (a write sequence number, 007_write_sequence.sql), $4 as-of.
INSERT INTO tokenevents_internal.reconcile_work (run_id, account_id, token_value, token_type)
SELECT $1, account_id, token_value, token_type
FROM (
    SELECT account_id, token_value, token_type
    FROM token_events WHERE written_seq >= $3 AND account_id = $2
    UNION
    SELECT account_id, token_value, token_type
    FROM tokens WHERE written_seq >= $3 AND account_id = $2
    UNION
    SELECT t.account_id, t.token_value, t.token_type
    FROM customers c
    JOIN tokens t ON t.account_id = c.account_id AND t.customer_id = c.customer_id
                 -- every bucket of tokens_customer (006_tokens_customer_buckets.sql): a probe each
                 AND (ascii(t.token_value) & 15) = ANY ('{0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15}'::int[])
    WHERE c.written_seq >= $3 AND c.account_id = $2
    UNION
    SELECT account_id, token_value, token_type
    FROM token_statuses WHERE account_id = $2 AND valid_until <= $4
) changed
ON CONFLICT DO NOTHING
