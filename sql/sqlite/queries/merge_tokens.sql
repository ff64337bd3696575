-- Gives every new token of one staged partition its id: the id the importer
-- made for one of its events. ?1 source id, ?2 partition, ?3 now.
INSERT INTO tokens (account_id, token_type, token_value, id, created_at)
SELECT account_id, token_type, token_value, min(token_id), ?3
FROM import_stage
WHERE source_id = ?1 AND partition = ?2
GROUP BY account_id, token_value, token_type
ORDER BY account_id, token_value, token_type
ON CONFLICT DO NOTHING
