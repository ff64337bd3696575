-- Every token of account ?1 in the key range [?2, ?3) with its customer, its
-- stored status and its events, one row per event (event columns null for a
-- token without events), in key order: the rows the status rule is applied to.
SELECT t.token_type, t.token_value, t.id, t.customer_id, c.status, c.deleted_at,
       s.token_id, s.status, s.decided_by, s.event, s.event_created_at, s.event_expires_at, s.valid_until,
       e.event, e.status, e.created_at, e.expires_at
FROM tokens t
LEFT JOIN customers c ON c.account_id = t.account_id AND c.customer_id = t.customer_id
LEFT JOIN token_statuses s
       ON s.account_id = t.account_id AND s.token_value = t.token_value AND s.token_type = t.token_type
LEFT JOIN token_events e
       ON e.account_id = t.account_id AND e.token_value = t.token_value AND e.token_type = t.token_type
WHERE t.account_id = ?1 AND t.token_value >= ?2 AND t.token_value < ?3
ORDER BY t.token_value, t.token_type
