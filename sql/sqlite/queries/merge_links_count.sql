-- What linking temp.link_last will do, counted before it is done: tokens
-- to create, tokens linked for the first time, tokens moved from another
-- customer (links older than the stored one count as unchanged).
SELECT count(*) AS distinct_keys,
       coalesce(sum(t.id IS NULL), 0) AS new_tokens,
       coalesce(sum(t.id IS NOT NULL AND t.customer_id IS NULL
                    AND (t.linked_at IS NULL OR t.linked_at <= l.updated_at)), 0) AS linked,
       coalesce(sum(t.id IS NOT NULL AND t.customer_id IS NOT NULL AND t.customer_id IS NOT l.customer_id
                    AND (t.linked_at IS NULL OR t.linked_at <= l.updated_at)), 0) AS moved
FROM temp.link_last l
LEFT JOIN tokens t ON t.account_id = l.account_id AND t.token_value = l.token_value AND t.token_type = l.token_type
