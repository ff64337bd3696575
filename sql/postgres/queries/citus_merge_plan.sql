-- On Citus, first of a staged partition's merge statements (see
-- citus_merge_tokens.sql): one read of the stage joined with the stored
-- events of the same keys, counting the distinct staged keys, those not
-- stored yet and those whose status, expiry or metadata differ. The merge
-- then runs only the writes these call for: a --force re-import of an
-- unchanged file writes nothing and reads each key once. Counted per
-- shard and summed. $1 partition, $2 source id.
SELECT count(*) AS distinct_keys,
       count(*) FILTER (WHERE e.account_id IS NULL) AS inserted,
       count(*) FILTER (WHERE e.account_id IS NOT NULL
                          AND (e.status, e.expires_at, e.metadata) IS DISTINCT FROM (d.status, d.expires_at, d.metadata)) AS changed
FROM (SELECT DISTINCT ON (token_value, account_id, token_type, event, created_us)
             account_id, token_type, token_value, event,
             to_timestamp(created_us / 1000000) + (created_us % 1000000) * interval '1 microsecond' AS created_at, status,
             to_timestamp(expires_us / 1000000) + (expires_us % 1000000) * interval '1 microsecond' AS expires_at,
             metadata
      FROM tokenevents_internal.import_stage
      WHERE partition = $1 AND source_id = $2
      ORDER BY token_value, account_id, token_type, event, created_us, seq DESC) d
LEFT JOIN token_events e
       ON e.account_id = d.account_id AND e.token_value = d.token_value AND e.token_type = d.token_type
      AND e.event = d.event AND e.created_at = d.created_at
