-- A token gets its id when its first event is stored; existing tokens keep
-- theirs. Sorted so that index pages are visited in order.
INSERT INTO tokens (account_id, token_type, token_value)
SELECT DISTINCT account_id, token_type, token_value
FROM stage_events
ORDER BY 1, 2, 3
ON CONFLICT DO NOTHING
