-- Merges the customers of one staged partition (SPEC §7), after its events
-- and links, in the same transaction (every row of a customer is in one
-- partition): the last occurrence of each customer in the source wins; a
-- row older than the stored customer (updated_at) is not applied; status,
-- deleted_at and metadata are written only when the file has their
-- columns and they differ; a new customer is inserted.
-- One probe of customers_pkey per customer (cur); the update visits only
-- customers found there. New customers are plain inserts, as new tokens
-- in merge_links.sql: a customer another writer commits meanwhile makes
-- the insert fail, and the partition is merged again, finding it present.
-- $1 partition, $2 source id, $3 the transaction's write sequence number.
WITH c AS (
    SELECT DISTINCT ON (account_id, customer_id)
           account_id, customer_id, status, status_set, deleted_set, metadata,
           to_timestamp(deleted_us / 1000000) + (deleted_us % 1000000) * interval '1 microsecond' AS deleted_at,
           to_timestamp(updated_us / 1000000) + (updated_us % 1000000) * interval '1 microsecond' AS updated_at
    FROM tokenevents_internal.import_stage_customers
    WHERE partition = $1 AND source_id = $2
    ORDER BY account_id, customer_id, seq DESC
), cur AS (
    SELECT c.*, s.customer_id IS NOT NULL AS present
    FROM c
    LEFT JOIN customers s USING (account_id, customer_id)
), upd AS (
    UPDATE customers s
    SET status     = CASE WHEN cur.status_set THEN cur.status ELSE s.status END,
        deleted_at = CASE WHEN cur.deleted_set THEN cur.deleted_at ELSE s.deleted_at END,
        metadata   = coalesce(cur.metadata, s.metadata),
        updated_at = cur.updated_at,
        -- a change of status or deletion is what a reconcile must see
        written_seq = CASE WHEN cur.status_set AND s.status IS DISTINCT FROM cur.status
                             OR cur.deleted_set AND s.deleted_at IS DISTINCT FROM cur.deleted_at
                           THEN $3 ELSE s.written_seq END
    FROM cur
    WHERE cur.present
      AND s.account_id = cur.account_id AND s.customer_id = cur.customer_id
      AND (s.updated_at IS NULL OR s.updated_at <= cur.updated_at)
      AND (cur.status_set AND s.status IS DISTINCT FROM cur.status
           OR cur.deleted_set AND s.deleted_at IS DISTINCT FROM cur.deleted_at
           OR cur.metadata IS NOT NULL AND s.metadata IS DISTINCT FROM cur.metadata)
    RETURNING 1
), ins AS (
    INSERT INTO customers (account_id, customer_id, status, deleted_at, metadata, updated_at, written_seq)
    SELECT account_id, customer_id, status, deleted_at, coalesce(metadata, '{}'), updated_at, $3
    FROM cur
    WHERE NOT present
    RETURNING 1
)
SELECT (SELECT count(*) FROM tokenevents_internal.import_stage_customers WHERE partition = $1 AND source_id = $2) AS staged,
       (SELECT count(*) FROM c)   AS distinct_keys,
       (SELECT count(*) FROM ins) AS inserted,
       (SELECT count(*) FROM upd) AS changed
