-- On Citus, after citus_merge_tokens.sql: the stored events whose status,
-- expiry or metadata the last occurrence of their key in the stage
-- changes; its row count is the changed events. Unchanged events are not
-- touched. $1 partition, $2 source id, $3 run id, $4 the transaction's
-- write sequence number.
UPDATE token_events e
   SET status = d.status, expires_at = d.expires_at, metadata = d.metadata, run_id = $3,
       updated_at = now(), written_seq = $4
  FROM (SELECT DISTINCT ON (token_value, account_id, token_type, event, created_us)
               account_id, token_type, token_value, event,
               to_timestamp(created_us / 1000000) + (created_us % 1000000) * interval '1 microsecond' AS created_at, status,
               to_timestamp(expires_us / 1000000) + (expires_us % 1000000) * interval '1 microsecond' AS expires_at,
               metadata
        FROM tokenevents_internal.import_stage
        WHERE partition = $1 AND source_id = $2
        ORDER BY token_value, account_id, token_type, event, created_us, seq DESC) d
 WHERE e.account_id = d.account_id AND e.token_value = d.token_value AND e.token_type = d.token_type
   AND e.event = d.event AND e.created_at = d.created_at
   AND (e.status, e.expires_at, e.metadata) IS DISTINCT FROM (d.status, d.expires_at, d.metadata)
