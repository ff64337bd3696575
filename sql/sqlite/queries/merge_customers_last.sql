-- Keeps the last occurrence (largest seq) of each staged customer of one
-- partition in temp.customer_last. ?1 source id, ?2 partition.
INSERT INTO temp.customer_last
SELECT account_id, customer_id, status, status_set, deleted_at, deleted_set, metadata, updated_at
FROM (
    SELECT account_id, customer_id, status, status_set, deleted_at, deleted_set, metadata, updated_at, max(seq)
    FROM import_stage_customers
    WHERE source_id = ?1 AND partition = ?2
    GROUP BY account_id, customer_id
)
