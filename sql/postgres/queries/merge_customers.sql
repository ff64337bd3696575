-- Merges the customers of one staged partition (SPEC §7), after its events
-- and links, in the same transaction (every row of a customer is in one
-- partition): the last occurrence of each customer in the source wins; a row older than the stored customer
-- (updated_at) is not applied; status, deleted_at and metadata are written
-- only when the file has their columns and they differ; a new customer is
-- inserted. $1 partition, $2 source id.
WITH c AS (
    SELECT DISTINCT ON (account_id, customer_id)
           account_id, customer_id, status, status_set, deleted_set, metadata,
           to_timestamp(deleted_us / 1000000) + (deleted_us % 1000000) * interval '1 microsecond' AS deleted_at,
           to_timestamp(updated_us / 1000000) + (updated_us % 1000000) * interval '1 microsecond' AS updated_at
    FROM tokenevents_internal.import_stage_customers
    WHERE partition = $1 AND source_id = $2
    ORDER BY account_id, customer_id, seq DESC
), upd AS (
    UPDATE customers s
    SET status     = CASE WHEN c.status_set THEN c.status ELSE s.status END,
        deleted_at = CASE WHEN c.deleted_set THEN c.deleted_at ELSE s.deleted_at END,
        metadata   = coalesce(c.metadata, s.metadata),
        updated_at = c.updated_at
    FROM c
    WHERE s.account_id = c.account_id AND s.customer_id = c.customer_id
      AND (s.updated_at IS NULL OR s.updated_at <= c.updated_at)
      AND (c.status_set AND s.status IS DISTINCT FROM c.status
           OR c.deleted_set AND s.deleted_at IS DISTINCT FROM c.deleted_at
           OR c.metadata IS NOT NULL AND s.metadata IS DISTINCT FROM c.metadata)
    RETURNING 1
), ins AS (
    INSERT INTO customers (account_id, customer_id, status, deleted_at, metadata, updated_at)
    SELECT account_id, customer_id, status, deleted_at, coalesce(metadata, '{}'), updated_at
    FROM c
    WHERE NOT EXISTS (SELECT 1 FROM customers s WHERE s.account_id = c.account_id AND s.customer_id = c.customer_id)
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM tokenevents_internal.import_stage_customers WHERE partition = $1 AND source_id = $2) AS staged,
       (SELECT count(*) FROM c)   AS distinct_keys,
       (SELECT count(*) FROM ins) AS inserted,
       (SELECT count(*) FROM upd) AS changed
