-- Stores one token's new status. ?1..?3 the token's key, ?4 token id,
-- ?5 status, ?6 decided_by, ?7..?9 the deciding event, ?10 valid_until,
-- ?11 as-of, ?12 run id.
INSERT INTO token_statuses (account_id, token_type, token_value, token_id, status, decided_by, event,
                            event_created_at, event_expires_at, valid_until, reconciled_at, run_id)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
ON CONFLICT (account_id, token_value, token_type) DO UPDATE
   SET token_id = excluded.token_id, status = excluded.status, decided_by = excluded.decided_by,
       event = excluded.event, event_created_at = excluded.event_created_at,
       event_expires_at = excluded.event_expires_at, valid_until = excluded.valid_until,
       reconciled_at = excluded.reconciled_at, run_id = excluded.run_id
