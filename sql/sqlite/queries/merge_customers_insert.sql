-- Inserts the staged customers that do not exist yet. ?1 now.
INSERT INTO customers (account_id, customer_id, status, deleted_at, metadata, created_at, updated_at)
SELECT account_id, customer_id, status, deleted_at, coalesce(metadata, '{}'), ?1, updated_at
FROM temp.customer_last c
WHERE NOT EXISTS (SELECT 1 FROM customers s WHERE s.account_id = c.account_id AND s.customer_id = c.customer_id)
