-- Links one staged partition's tokens to their customers where tokens
-- holds nothing yet in the staged key range (link_ranges_empty.sql said
-- so): the last occurrence of each token in the source wins, and every
-- token is new, created linked, by plain INSERT without a probe per link.
-- Should another writer store one of these tokens meanwhile, the insert
-- fails with a unique violation and the partition is merged again, then
-- by merge_links.sql. $1 partition, $2 source id, $3 the transaction's
-- write sequence number.
WITH l AS (
    SELECT DISTINCT ON (token_value, account_id, token_type)
           account_id, token_type, token_value, customer_id, token_id,
           to_timestamp(updated_us / 1000000) + (updated_us % 1000000) * interval '1 microsecond' AS updated_at
    FROM tokenevents_internal.import_stage_links
    WHERE partition = $1 AND source_id = $2
    ORDER BY token_value, account_id, token_type, seq DESC
), ins AS (
    INSERT INTO tokens (account_id, token_type, token_value, id, customer_id, linked_at, written_seq)
    SELECT account_id, token_type, token_value, token_id, customer_id, updated_at, $3
    FROM l
    RETURNING 1
)
SELECT (SELECT staged_links FROM tokenevents_internal.import_ledger WHERE source_id = $2 AND partition = $1) AS staged,
       n        AS distinct_keys,
       n        AS new_tokens,
       0::bigint AS linked,
       0::bigint AS moved
FROM (SELECT count(*) AS n FROM ins) i
