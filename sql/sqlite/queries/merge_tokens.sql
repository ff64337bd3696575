-- Gives every new token of the partition in merge_last its id: the id the
-- importer made for one of its events. ?1 now.
INSERT INTO tokens (account_id, token_type, token_value, id, created_at)
SELECT account_id, token_type, token_value, min(token_id), ?1
FROM temp.merge_last
GROUP BY account_id, token_value, token_type
ORDER BY account_id, token_value, token_type
ON CONFLICT DO NOTHING
