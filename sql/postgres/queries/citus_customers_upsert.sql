-- On Citus, merges one staged partition's customers into the reference
-- table customers, by the rules of merge_customers.sql. The new row of
-- each customer that is new or changes is worked out from the stored one
-- first, so that the upsert only copies it: Citus writes a reference table
-- on every node, and ON CONFLICT there can see only the proposed row, not
-- which columns the file had. $1 partition, $2 source id, $3 the
-- transaction's write sequence number.
INSERT INTO customers AS s (account_id, customer_id, status, deleted_at, metadata, updated_at, written_seq)
SELECT c.account_id, c.customer_id,
       CASE WHEN s.customer_id IS NULL OR c.status_set THEN c.status ELSE s.status END,
       CASE WHEN s.customer_id IS NULL OR c.deleted_set THEN c.deleted_at ELSE s.deleted_at END,
       coalesce(c.metadata, s.metadata, '{}'),
       c.updated_at,
       -- a change of status or deletion is what a reconcile must see
       CASE WHEN s.customer_id IS NULL
                 OR c.status_set AND s.status IS DISTINCT FROM c.status
                 OR c.deleted_set AND s.deleted_at IS DISTINCT FROM c.deleted_at
            THEN $3 ELSE s.written_seq END
FROM (SELECT DISTINCT ON (account_id, customer_id)
             account_id, customer_id, status, status_set, deleted_set, metadata,
             to_timestamp(deleted_us / 1000000) + (deleted_us % 1000000) * interval '1 microsecond' AS deleted_at,
             to_timestamp(updated_us / 1000000) + (updated_us % 1000000) * interval '1 microsecond' AS updated_at
      FROM tokenevents_internal.import_stage_customers
      WHERE partition = $1 AND source_id = $2
      ORDER BY account_id, customer_id, seq DESC) c
LEFT JOIN customers s USING (account_id, customer_id)
WHERE s.customer_id IS NULL
   OR (s.updated_at IS NULL OR s.updated_at <= c.updated_at)
      AND (c.status_set AND s.status IS DISTINCT FROM c.status
           OR c.deleted_set AND s.deleted_at IS DISTINCT FROM c.deleted_at
           OR c.metadata IS NOT NULL AND s.metadata IS DISTINCT FROM c.metadata)
ON CONFLICT (account_id, customer_id) DO UPDATE
   SET status = EXCLUDED.status, deleted_at = EXCLUDED.deleted_at, metadata = EXCLUDED.metadata,
       updated_at = EXCLUDED.updated_at, written_seq = EXCLUDED.written_seq
