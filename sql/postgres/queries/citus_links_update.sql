-- On Citus, the link merge's changes to stored tokens (merge_links.sql
-- does it in one statement on a single server): a token linked to another
-- customer, or to none, takes the last occurrence's customer, unless its
-- stored link is newer than the row. Run twice: $4 false, tokens linked
-- to another customer (moved); $4 true, tokens with no customer (linked);
-- each row count is that figure. $1 partition, $2 source id, $3 the
-- transaction's write sequence number.
UPDATE tokens t
   SET customer_id = l.customer_id, linked_at = l.updated_at, written_seq = $3
  FROM (SELECT DISTINCT ON (token_value, account_id, token_type)
               account_id, token_type, token_value, customer_id,
               to_timestamp(updated_us / 1000000) + (updated_us % 1000000) * interval '1 microsecond' AS updated_at
        FROM tokenevents_internal.import_stage_links
        WHERE partition = $1 AND source_id = $2
        ORDER BY token_value, account_id, token_type, seq DESC) l
 WHERE t.account_id = l.account_id AND t.token_value = l.token_value AND t.token_type = l.token_type
   AND t.customer_id IS DISTINCT FROM l.customer_id
   AND (t.customer_id IS NULL) = $4
   AND (t.linked_at IS NULL OR t.linked_at <= l.updated_at)
