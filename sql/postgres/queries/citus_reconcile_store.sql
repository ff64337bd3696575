-- On Citus, after citus_reconcile_changes.sql (not in a dry run): stores
-- the statuses run $1 decided for account $2's range [$3, $4) as of $5 —
-- inserts those of tokens with no stored status (the account's lock keeps
-- other reconciles away) and updates those that differ, in one upsert; its
-- row count is the statuses stored. One task per shard.
INSERT INTO token_statuses AS s (account_id, token_type, token_value, token_id, status, decided_by, event,
                                 event_created_at, event_expires_at, valid_until, reconciled_at, run_id)
SELECT account_id, token_type, token_value, token_id, status, decided_by, event,
       event_created_at, event_expires_at, valid_until, $5, $1
FROM tokenevents_internal.reconcile_decided
WHERE run_id = $1 AND account_id = $2 AND token_value >= $3 AND token_value < $4
  AND differs
ON CONFLICT (account_id, token_value, token_type) DO UPDATE
   SET token_id = EXCLUDED.token_id, status = EXCLUDED.status, decided_by = EXCLUDED.decided_by,
       event = EXCLUDED.event, event_created_at = EXCLUDED.event_created_at,
       event_expires_at = EXCLUDED.event_expires_at, valid_until = EXCLUDED.valid_until,
       reconciled_at = EXCLUDED.reconciled_at, run_id = EXCLUDED.run_id
