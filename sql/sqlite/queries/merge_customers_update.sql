-- Applies staged customers to stored ones (SPEC §7): only a row at least
-- as new as the stored customer (updated_at), and only what the file has
-- columns for and what differs.
UPDATE customers
SET status     = CASE WHEN c.status_set THEN c.status ELSE customers.status END,
    deleted_at = CASE WHEN c.deleted_set THEN c.deleted_at ELSE customers.deleted_at END,
    metadata   = coalesce(c.metadata, customers.metadata),
    updated_at = c.updated_at
FROM temp.customer_last c
WHERE customers.account_id = c.account_id AND customers.customer_id = c.customer_id
  AND (customers.updated_at IS NULL OR customers.updated_at <= c.updated_at)
  AND (c.status_set AND customers.status IS NOT c.status
       OR c.deleted_set AND customers.deleted_at IS NOT c.deleted_at
       OR c.metadata IS NOT NULL AND customers.metadata IS NOT c.metadata)
