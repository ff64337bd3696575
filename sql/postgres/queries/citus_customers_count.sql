-- On Citus, what merging one staged partition's customers will do, read
-- before citus_customers_upsert.sql writes it (the same rules as
-- merge_customers.sql): distinct customers, new ones, and stored ones that
-- change. The stage is a coordinator table and customers a reference
-- table, which has a copy on the coordinator: this runs there.
-- $1 partition, $2 source id.
SELECT count(*) AS distinct_keys,
       count(*) FILTER (WHERE s.customer_id IS NULL) AS inserted,
       count(*) FILTER (WHERE s.customer_id IS NOT NULL
                          AND (s.updated_at IS NULL OR s.updated_at <= c.updated_at)
                          AND (c.status_set AND s.status IS DISTINCT FROM c.status
                               OR c.deleted_set AND s.deleted_at IS DISTINCT FROM c.deleted_at
                               OR c.metadata IS NOT NULL AND s.metadata IS DISTINCT FROM c.metadata)) AS changed
FROM (SELECT DISTINCT ON (account_id, customer_id)
             account_id, customer_id, status, status_set, deleted_set, metadata,
             to_timestamp(deleted_us / 1000000) + (deleted_us % 1000000) * interval '1 microsecond' AS deleted_at,
             to_timestamp(updated_us / 1000000) + (updated_us % 1000000) * interval '1 microsecond' AS updated_at
      FROM tokenevents_internal.import_stage_customers
      WHERE partition = $1 AND source_id = $2
      ORDER BY account_id, customer_id, seq DESC) c
LEFT JOIN customers s USING (account_id, customer_id)
