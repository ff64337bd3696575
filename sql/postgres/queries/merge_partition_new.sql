-- Merges one staged partition of a source into key ranges where nothing is
-- stored yet (staged_ranges.sql said so): every event and every token
-- is new, so they go in by plain INSERT without a probe per row. Counts what
-- happened. $1 partition, $2 source id, $3 run id, $4 the transaction's
-- write sequence number (written_seq).
-- d: the last occurrence of each staged event key, as in merge_partition.sql.
-- f: d with the first event of each token marked; the window's order is
--    d's, so it sorts nothing.
-- Should another writer store one of these keys meanwhile, an insert fails
-- with a unique violation and the partition is merged again by
-- merge_partition_upsert.sql.
WITH d AS (
    SELECT DISTINCT ON (token_value, account_id, token_type, event, created_us)
           account_id, token_type, token_value, event,
           to_timestamp(created_us / 1000000) + (created_us % 1000000) * interval '1 microsecond' AS created_at, status,
           to_timestamp(expires_us / 1000000) + (expires_us % 1000000) * interval '1 microsecond' AS expires_at,
           metadata, token_id
    FROM tokenevents_internal.import_stage
    WHERE partition = $1 AND source_id = $2
    ORDER BY token_value, account_id, token_type, event, created_us, seq DESC
), f AS (
    SELECT d.*, row_number() OVER (PARTITION BY token_value, account_id, token_type
                                   ORDER BY event, created_at) = 1 AS first_of_token
    FROM d
), tok AS (
    INSERT INTO tokens (account_id, token_type, token_value, id, written_seq)
    SELECT account_id, token_type, token_value, token_id, $4
    FROM f
    WHERE first_of_token
    RETURNING 1
), ins AS (
    INSERT INTO token_events (account_id, token_type, token_value, event, created_at, status, expires_at, metadata,
                              run_id, written_seq)
    SELECT account_id, token_type, token_value, event, created_at, status, expires_at, metadata,
           $3, $4
    FROM f
    RETURNING 1
)
SELECT (SELECT staged_events FROM tokenevents_internal.import_ledger WHERE source_id = $2 AND partition = $1) AS staged,
       n AS distinct_keys,
       (SELECT count(*) FROM tok) AS new_tokens,
       n AS inserted,
       0::bigint AS changed
FROM (SELECT count(*) AS n FROM ins) i
