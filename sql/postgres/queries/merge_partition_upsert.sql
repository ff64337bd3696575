-- The fallback merge (see merge_partition.sql): one upsert per table, safe
-- against rows that other writers insert meanwhile. Merges one staged
-- partition of a source into tokens and token_events and
-- counts what happened. $1 partition, $2 source id, $3 run id, $4 the
-- transaction's write sequence number (written_seq).
-- d: the last occurrence of each staged event key, as in merge_partition.sql.
-- tok: a token gets its id when its first event is stored (a random UUID
--      the importer made; gen_random_uuid() would cost more than the insert).
-- up: events inserted or changed; unchanged events are not rewritten.
WITH d AS (
    SELECT DISTINCT ON (token_value, account_id, token_type, event, created_us)
           account_id, token_type, token_value, event,
           to_timestamp(created_us / 1000000) + (created_us % 1000000) * interval '1 microsecond' AS created_at, status,
           to_timestamp(expires_us / 1000000) + (expires_us % 1000000) * interval '1 microsecond' AS expires_at,
           metadata, token_id
    FROM tokenevents_internal.import_stage
    WHERE partition = $1 AND source_id = $2
    ORDER BY token_value, account_id, token_type, event, created_us, seq DESC
), tok AS (
    INSERT INTO tokens (account_id, token_type, token_value, id, written_seq)
    SELECT DISTINCT ON (token_value, account_id, token_type) account_id, token_type, token_value, token_id, $4 FROM d
    ORDER BY token_value, account_id, token_type
    ON CONFLICT DO NOTHING
    RETURNING 1
), up AS (
    INSERT INTO token_events AS e
           (account_id, token_type, token_value, event, created_at, status, expires_at, metadata, run_id, written_seq)
    SELECT account_id, token_type, token_value, event, created_at, status, expires_at, metadata, $3, $4
    FROM d
    ON CONFLICT (account_id, token_value, token_type, event, created_at) DO UPDATE
       SET status = EXCLUDED.status,
           expires_at = EXCLUDED.expires_at,
           metadata = EXCLUDED.metadata,
           run_id = EXCLUDED.run_id,
           updated_at = now(),
           written_seq = EXCLUDED.written_seq
       WHERE (e.status, e.expires_at, e.metadata)
             IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.expires_at, EXCLUDED.metadata)
    RETURNING (xmax = 0) AS inserted
)
SELECT (SELECT staged_events FROM tokenevents_internal.import_ledger WHERE source_id = $2 AND partition = $1) AS staged,
       (SELECT count(*) FROM d)                     AS distinct_keys,
       (SELECT count(*) FROM tok)                   AS new_tokens,
       (SELECT count(*) FROM up WHERE inserted)     AS inserted,
       (SELECT count(*) FROM up WHERE NOT inserted) AS changed
