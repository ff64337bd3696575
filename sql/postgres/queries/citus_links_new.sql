-- On Citus, after citus_links_update.sql: tokens that exist only as a
-- staged link are created linked, with the importer's id; the row count
-- is the new tokens. $1 partition, $2 source id, $3 the transaction's
-- write sequence number.
INSERT INTO tokens (account_id, token_type, token_value, id, customer_id, linked_at, written_seq)
SELECT account_id, token_type, token_value, token_id, customer_id, updated_at, $3
FROM (SELECT DISTINCT ON (token_value, account_id, token_type)
             account_id, token_type, token_value, customer_id, token_id,
             to_timestamp(updated_us / 1000000) + (updated_us % 1000000) * interval '1 microsecond' AS updated_at
      FROM tokenevents_internal.import_stage_links
      WHERE partition = $1 AND source_id = $2
      ORDER BY token_value, account_id, token_type, seq DESC) l
WHERE NOT EXISTS (SELECT 1 FROM tokens t
                  WHERE t.account_id = l.account_id AND t.token_value = l.token_value AND t.token_type = l.token_type)
