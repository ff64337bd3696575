-- Counts the distinct event keys of one staged partition. ?1 source id, ?2 partition.
SELECT count(*) FROM (
    SELECT 1 FROM import_stage
    WHERE source_id = ?1 AND partition = ?2
    GROUP BY account_id, token_value, token_type, event, created_at
)
