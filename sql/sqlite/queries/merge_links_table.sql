-- The per-connection temporary table a merge keeps the last occurrence of
-- each linked token in (merge_links_last.sql).
CREATE TEMP TABLE IF NOT EXISTS link_last (
    account_id, token_type, token_value, customer_id, token_id, updated_at
)
