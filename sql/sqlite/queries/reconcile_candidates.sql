-- Collects the tokens of one account that an incremental reconcile must
-- recompute: written since the previous reconcile's watermark (token_writes
-- logs events, customer links and customers), or due to change by --as-of.
-- ?1 run id, ?2 account id, ?3 previous watermark, ?4 as-of.
INSERT OR IGNORE INTO reconcile_work (run_id, account_id, token_value, token_type)
SELECT ?1, account_id, token_value, token_type FROM token_writes
WHERE id > ?3 AND account_id = ?2
UNION
SELECT ?1, account_id, token_value, token_type FROM token_statuses
WHERE account_id = ?2 AND valid_until IS NOT NULL AND valid_until <= ?4
