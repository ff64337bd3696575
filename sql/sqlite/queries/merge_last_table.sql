-- The per-connection temporary table a merge keeps the last occurrences of
-- a partition's event keys in (merge_last.sql).
CREATE TEMP TABLE IF NOT EXISTS merge_last (
    account_id, token_type, token_value, event, created_at, status, expires_at, metadata, token_id
)
