-- As reconcile_facts_full.sql, for the tokens run ?4 collected in
-- reconcile_work: account ?1, key range [?2, ?3).
SELECT t.token_type, t.token_value, t.id, t.customer_id, c.status, c.deleted_at,
       s.token_id, s.status, s.decided_by, s.event, s.event_created_at, s.event_expires_at, s.valid_until,
       e.event, e.status, e.created_at, e.expires_at
FROM reconcile_work w
JOIN tokens t ON t.account_id = w.account_id AND t.token_value = w.token_value AND t.token_type = w.token_type
LEFT JOIN customers c ON c.account_id = t.account_id AND c.customer_id = t.customer_id
LEFT JOIN token_statuses s
       ON s.account_id = t.account_id AND s.token_value = t.token_value AND s.token_type = t.token_type
LEFT JOIN token_events e
       ON e.account_id = t.account_id AND e.token_value = t.token_value AND e.token_type = t.token_type
WHERE w.run_id = ?4 AND w.account_id = ?1 AND w.token_value >= ?2 AND w.token_value < ?3
ORDER BY w.token_value, w.token_type
