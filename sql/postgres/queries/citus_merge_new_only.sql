-- On Citus, in place of citus_merge_new.sql when citus_merge_plan.sql found
-- none of the partition's staged keys stored (a first import): the last
-- occurrence of each staged key, inserted without a probe each. A key
-- another writer stores meanwhile makes the insert fail with a unique
-- violation, and the partition is merged again. $1 partition, $2 source
-- id, $3 run id, $4 the transaction's write sequence number.
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
