-- Merges one staged partition of a source into tokens and token_events and
-- counts what happened. $1 partition, $2 source id, $3 run id, $4 the
-- transaction's write sequence number (written_seq); $5 the staged
-- accounts, $6 and $7 the lowest and highest staged token value
-- (staged_ranges.sql).
-- d: the last occurrence (largest seq) of each event key of the staged
-- partition. Sorted by token value first: the sort's abbreviated keys then
-- settle most comparisons at once (account_id, which leads the primary
-- key, has one value in most files, and comparing it first made the sort
-- 2.5 times slower). Within an account the order is still the primary
-- key's, so index pages are visited in order. Timestamps are staged as
-- microseconds since the epoch (003_stage_micros.sql), turned back with
-- integer arithmetic: whole seconds, then the microseconds left (a float of
-- all the microseconds would lose some past the year 2255).
-- merge_partition_new.sql does the same job where nothing is stored yet.
-- cmp: each with the stored event of the same key, if any: probed one by one
--      (a nested loop), or read in one pass over the staged key range and
--      merge-joined when the partition stages about as many events as that
--      range stores (the caller picks; the planner cannot, not knowing how
--      many staged keys are distinct). Splitting new,
--      changed and unchanged events here lets new ones go in by plain
--      INSERT (an upsert's speculative insertion costs an extra probe and
--      WAL record per row) and leaves unchanged ones untouched (ON CONFLICT
--      DO UPDATE locks a row even when its WHERE is false, which writes).
-- tok: a token gets its id when its first event is stored (a random UUID the
--      importer made).
-- Only one import runs at a time (the import lock). Should another writer
-- insert one of these keys meanwhile, the plain inserts fail with a unique
-- violation and the partition is merged again by merge_partition_upsert.sql.
WITH d AS (
    SELECT DISTINCT ON (token_value, account_id, token_type, event, created_us)
           account_id, token_type, token_value, event,
           to_timestamp(created_us / 1000000) + (created_us % 1000000) * interval '1 microsecond' AS created_at, status,
           to_timestamp(expires_us / 1000000) + (expires_us % 1000000) * interval '1 microsecond' AS expires_at,
           metadata, token_id
    FROM tokenevents_internal.import_stage
    WHERE partition = $1 AND source_id = $2
    ORDER BY token_value, account_id, token_type, event, created_us, seq DESC
), cmp AS MATERIALIZED (
    SELECT d.*, e.account_id IS NOT NULL AS stored,
           e.account_id IS NOT NULL AND (e.status, e.expires_at, e.metadata)
               IS DISTINCT FROM (d.status, d.expires_at, d.metadata) AS changed
    FROM d
    LEFT JOIN (SELECT * FROM token_events
               WHERE account_id = ANY ($5) AND token_value BETWEEN $6 AND $7) e
           ON e.account_id = d.account_id AND e.token_value = d.token_value AND e.token_type = d.token_type
          AND e.event = d.event AND e.created_at = d.created_at
), tok AS (
    INSERT INTO tokens (account_id, token_type, token_value, id, written_seq)
    SELECT n.account_id, n.token_type, n.token_value, n.token_id, $4
    FROM (SELECT DISTINCT ON (token_value, account_id, token_type) account_id, token_type, token_value, token_id
          FROM cmp WHERE NOT stored
          ORDER BY token_value, account_id, token_type) n
    WHERE NOT EXISTS (SELECT 1 FROM tokens t
                      WHERE t.account_id = ANY ($5) AND t.token_value BETWEEN $6 AND $7
                        AND t.account_id = n.account_id AND t.token_value = n.token_value AND t.token_type = n.token_type)
    RETURNING 1
), ins AS (
    INSERT INTO token_events (account_id, token_type, token_value, event, created_at, status, expires_at, metadata,
                              run_id, written_seq)
    SELECT account_id, token_type, token_value, event, created_at, status, expires_at, metadata,
           $3, $4
    FROM cmp
    WHERE NOT stored -- sorted already: cmp is d's sorted rows joined in order
    RETURNING 1
), upd AS (
    UPDATE token_events e
       SET status = c.status, expires_at = c.expires_at, metadata = c.metadata, run_id = $3,
           updated_at = now(), written_seq = $4
      FROM cmp c
     WHERE c.changed
       AND e.account_id = ANY ($5) AND e.token_value BETWEEN $6 AND $7
       AND e.account_id = c.account_id AND e.token_value = c.token_value AND e.token_type = c.token_type
       AND e.event = c.event AND e.created_at = c.created_at
    RETURNING 1
)
SELECT (SELECT staged_events FROM tokenevents_internal.import_ledger WHERE source_id = $2 AND partition = $1) AS staged,
       (SELECT count(*) FROM cmp) AS distinct_keys,
       (SELECT count(*) FROM tok) AS new_tokens,
       (SELECT count(*) FROM ins) AS inserted,
       (SELECT count(*) FROM upd) AS changed
