-- What one staged partition covers, for choosing how to merge it: its
-- accounts and lowest and highest token value ($1 partition, $2 source id),
-- and whether nothing is stored yet, per staged account, between that
-- account's lowest and highest staged token value. When nothing is,
-- merge_partition_new.sql merges without probing for stored rows (a first
-- import, or a migration into a new database). Also how many events are
-- staged there and how many token_events holds in all (the planner's
-- estimate), to choose between probing and reading the range.
WITH r AS (
    SELECT account_id, min(token_value) AS lo, max(token_value) AS hi
    FROM tokenevents_internal.import_stage
    WHERE partition = $1 AND source_id = $2
    GROUP BY account_id
)
SELECT NOT EXISTS (
           SELECT 1 FROM r
           WHERE EXISTS (SELECT 1 FROM tokens t
                         WHERE t.account_id = r.account_id AND t.token_value BETWEEN r.lo AND r.hi)
              OR EXISTS (SELECT 1 FROM token_events e
                         WHERE e.account_id = r.account_id AND e.token_value BETWEEN r.lo AND r.hi)
       ) AS empty,
       coalesce(array_agg(account_id), '{}') AS accounts,
       coalesce(min(lo), '') AS lo,
       coalesce(max(hi), '') AS hi,
       (SELECT staged_events FROM tokenevents_internal.import_ledger WHERE source_id = $2 AND partition = $1) AS staged,
       (SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'token_events'::regclass)::float8 AS stored_total
FROM r
