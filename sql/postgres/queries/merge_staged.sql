-- The CTE d, which merge_partition.sql, merge_partition_new.sql or
-- merge_partition_upsert.sql, appended, merge: the last occurrence (largest
-- seq) of each event key of one staged partition. $1 partition, $2 source
-- id. Sorted by token value first: the sort's abbreviated keys then settle
-- most comparisons at once (account_id, which leads the primary key, has
-- one value in most files, and comparing it first made the sort 2.5 times
-- slower). Within an account the order is still the primary key's, so
-- index pages are visited in order. Timestamps are staged as microseconds
-- since the epoch (003_stage_micros.sql), turned back with integer
-- arithmetic: whole seconds, then the microseconds left (a float of all the
-- microseconds would lose some past the year 2255).
WITH d AS (
    SELECT DISTINCT ON (token_value, account_id, token_type, event, created_us)
           account_id, token_type, token_value, event,
           to_timestamp(created_us / 1000000) + (created_us % 1000000) * interval '1 microsecond' AS created_at, status,
           to_timestamp(expires_us / 1000000) + (expires_us % 1000000) * interval '1 microsecond' AS expires_at,
           metadata, token_id
    FROM tokenevents_internal.import_stage
    WHERE partition = $1 AND source_id = $2
    ORDER BY token_value, account_id, token_type, event, created_us, seq DESC
