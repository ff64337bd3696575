-- Links one staged partition's tokens to their customers (SPEC §7), after
-- its events are merged, in the same transaction: the last occurrence of
-- each token in the source, kept in temp.link_last (merge_links_last.sql),
-- moves or sets the token's link unless the stored link is newer; an
-- unchanged link is not rewritten. Tokens that do not exist yet are
-- inserted afterwards (merge_links_tokens.sql).
UPDATE tokens
SET customer_id = l.customer_id, linked_at = l.updated_at
FROM temp.link_last l
WHERE tokens.account_id = l.account_id AND tokens.token_value = l.token_value AND tokens.token_type = l.token_type
  AND tokens.customer_id IS NOT l.customer_id
  AND (tokens.linked_at IS NULL OR tokens.linked_at <= l.updated_at)
