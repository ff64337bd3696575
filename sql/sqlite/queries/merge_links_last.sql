-- Keeps the last occurrence (largest seq) of each token of one staged
-- partition's links in temp.link_last. ?1 source id, ?2 partition.
INSERT INTO temp.link_last
SELECT account_id, token_type, token_value, customer_id, token_id, updated_at
FROM (
    SELECT account_id, token_type, token_value, customer_id, token_id, updated_at, max(seq)
    FROM import_stage_links
    WHERE source_id = ?1 AND partition = ?2
    GROUP BY account_id, token_value, token_type
)
