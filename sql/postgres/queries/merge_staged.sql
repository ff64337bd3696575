-- The CTE d, which merge_partition.sql, merge_partition_new.sql or
-- merge_partition_upsert.sql, appended, merge: the last occurrence (largest
-- seq) of each event key of one staged partition. $1 partition, $2 source
-- id. Sorted by token value first: the sort's abbreviated keys then settle
-- most comparisons at once (account_id, which leads the primary key, has
-- one value in most files, and comparing it first made the sort 2.5 times
-- slower). Within an account the order is still the primary key's, so
-- index pages are visited in order.
WITH d AS (
    SELECT DISTINCT ON (token_value, account_id, token_type, event, created_at)
           account_id, token_type, token_value, event, created_at, status, expires_at, metadata, token_id
    FROM import_stage
    WHERE partition = $1 AND source_id = $2
    ORDER BY token_value, account_id, token_type, event, created_at, seq DESC
