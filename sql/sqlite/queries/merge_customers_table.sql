-- The per-connection temporary table the customers merge keeps the last
-- occurrence of each customer in (merge_customers_last.sql).
CREATE TEMP TABLE IF NOT EXISTS customer_last (
    account_id, customer_id, status, status_set, deleted_at, deleted_set, metadata, updated_at
)
