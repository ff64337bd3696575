-- The CTE d, which merge_partition.sql or merge_partition_upsert.sql,
-- appended, merge: the last occurrence (largest seq) of each event key of
-- one staged partition, in the primary key's order, so that index pages are
-- visited in order. $1 partition, $2 source id.
WITH d AS (
    SELECT DISTINCT ON (account_id, token_value, token_type, event, created_at)
           account_id, token_type, token_value, event, created_at, status, expires_at, metadata, token_id
    FROM import_stage
    WHERE partition = $1 AND source_id = $2
    ORDER BY account_id, token_value, token_type, event, created_at, seq DESC
