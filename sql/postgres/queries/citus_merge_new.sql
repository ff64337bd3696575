-- On Citus, after citus_merge_changed.sql: the staged events whose key is
-- not stored yet, the last occurrence of each; its row count is the new
-- events. $5 true when citus_merge_plan.sql found none of the partition's
-- keys stored (a first import): then no key is probed (Citus puts the
-- value into each shard's statement, where the planner drops the test).
-- A key another writer stores meanwhile makes the insert fail with a
-- unique violation, and the partition is merged again.
-- $1 partition, $2 source id, $3 run id, $4 the transaction's write
-- sequence number.
INSERT INTO token_events (account_id, token_type, token_value, event, created_at, status, expires_at, metadata,
                          run_id, written_seq)
SELECT account_id, token_type, token_value, event, created_at, status, expires_at, metadata, $3, $4
FROM (SELECT DISTINCT ON (token_value, account_id, token_type, event, created_us)
             account_id, token_type, token_value, event,
             to_timestamp(created_us / 1000000) + (created_us % 1000000) * interval '1 microsecond' AS created_at, status,
             to_timestamp(expires_us / 1000000) + (expires_us % 1000000) * interval '1 microsecond' AS expires_at,
             metadata
      FROM tokenevents_internal.import_stage
      WHERE partition = $1 AND source_id = $2
      ORDER BY token_value, account_id, token_type, event, created_us, seq DESC) d
WHERE $5::boolean
   OR NOT EXISTS (SELECT 1 FROM token_events e
                  WHERE e.account_id = d.account_id AND e.token_value = d.token_value AND e.token_type = d.token_type
                    AND e.event = d.event AND e.created_at = d.created_at)
