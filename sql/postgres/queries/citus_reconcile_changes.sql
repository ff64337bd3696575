-- On Citus, after citus_reconcile_decide_*.sql: records the tokens of
-- account $2's range [$3, $4) whose status run $1 changes (the diff
-- report), with as-of $5. One task per shard.
INSERT INTO reconcile_changes (run_id, account_id, token_type, token_value, token_id, previous_status,
                               status, decided_by, event, event_created_at, event_expires_at, as_of)
SELECT run_id, account_id, token_type, token_value, token_id, previous_status,
       status, decided_by, event, event_created_at, event_expires_at, $5
FROM tokenevents_internal.reconcile_decided
WHERE run_id = $1 AND account_id = $2 AND token_value >= $3 AND token_value < $4
  AND status <> previous_status
