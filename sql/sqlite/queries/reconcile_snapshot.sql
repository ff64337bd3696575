-- Every token's current aggregated status (reconcile export), in the diff
-- report's columns and key order: previous_status is empty (a snapshot has
-- no transition) and as_of is the instant the status was computed for.
-- ?1 account id, or '' for every account; ?2 status, or '' for any.
SELECT account_id, token_type, token_value, token_id, '' AS previous_status, status, decided_by,
       event, event_created_at, event_expires_at, reconciled_at AS as_of
FROM token_statuses
WHERE (?1 = '' OR account_id = ?1) AND (?2 = '' OR status = ?2)
ORDER BY account_id, token_type, token_value
