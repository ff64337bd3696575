-- Keeps the last occurrence (largest seq, then ord) of each event key of one
-- staged partition in the temporary table merge_last, in key order.
-- ?1 source id, ?2 partition.
INSERT INTO temp.merge_last
SELECT account_id, token_type, token_value, event, created_at, status, expires_at, metadata, token_id
FROM (
    -- SQLite takes the bare columns of an aggregate query with max() from
    -- the row that has the maximum: the last occurrence.
    SELECT account_id, token_type, token_value, event, created_at, status, expires_at, metadata, token_id,
           max(seq * 4 + ord)
    FROM import_stage
    WHERE source_id = ?1 AND partition = ?2
    GROUP BY account_id, token_value, token_type, event, created_at
)
