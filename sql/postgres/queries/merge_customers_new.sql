-- Merges the customers of one staged partition where customers holds
-- nothing yet in their key range (link_ranges_empty.sql said so): the last
-- occurrence of each customer in the source wins, and every customer is
-- new, inserted without a probe each. Should another writer store one of
-- them meanwhile, the insert fails with a unique violation and the
-- partition is merged again, then by merge_customers.sql.
-- $1 partition, $2 source id, $3 the transaction's write sequence number.
WITH c AS (
    SELECT DISTINCT ON (account_id, customer_id)
           account_id, customer_id, status, metadata,
           to_timestamp(deleted_us / 1000000) + (deleted_us % 1000000) * interval '1 microsecond' AS deleted_at,
           to_timestamp(updated_us / 1000000) + (updated_us % 1000000) * interval '1 microsecond' AS updated_at
    FROM tokenevents_internal.import_stage_customers
    WHERE partition = $1 AND source_id = $2
    ORDER BY account_id, customer_id, seq DESC
), ins AS (
    INSERT INTO customers (account_id, customer_id, status, deleted_at, metadata, updated_at, written_seq)
    SELECT account_id, customer_id, status, deleted_at, coalesce(metadata, '{}'), updated_at, $3
    FROM c
    RETURNING 1
)
SELECT (SELECT staged_customers FROM tokenevents_internal.import_ledger WHERE source_id = $2 AND partition = $1) AS staged,
       n         AS distinct_keys,
       n         AS inserted,
       0::bigint AS changed
FROM (SELECT count(*) AS n FROM ins) i
