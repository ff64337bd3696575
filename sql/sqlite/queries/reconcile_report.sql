-- The diff report of a run, in key order. ?1 run id.
SELECT account_id, token_type, token_value, token_id, previous_status, status, decided_by,
       event, event_created_at, event_expires_at, as_of
FROM reconcile_changes
WHERE run_id = ?1
ORDER BY account_id, token_type, token_value
