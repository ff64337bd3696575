-- Links one staged partition's tokens to their customers (SPEC §7): the
-- last occurrence of each token in the source wins; a token that does not
-- exist yet is created with the importer's id (it has no events); a token
-- linked to another customer moves, unless its stored link is newer than
-- the row; an unchanged link is not rewritten. Runs after the partition's
-- events are merged, in the same transaction, so it sees their new tokens.
-- New tokens are plain inserts (no speculative insertion): a token another
-- writer commits meanwhile makes the insert fail, and the partition is
-- merged again (MergePartition), this time finding it present.
-- $1 partition, $2 source id, $3 the transaction's write sequence number.
WITH l AS (
    SELECT DISTINCT ON (token_value, account_id, token_type)
           account_id, token_type, token_value, customer_id, token_id,
           to_timestamp(updated_us / 1000000) + (updated_us % 1000000) * interval '1 microsecond' AS updated_at
    FROM tokenevents_internal.import_stage_links
    WHERE partition = $1 AND source_id = $2
    ORDER BY token_value, account_id, token_type, seq DESC
), cur AS (
    SELECT l.*, t.customer_id AS old_customer, t.linked_at, t.id IS NOT NULL AS present
    FROM l
    LEFT JOIN tokens t USING (account_id, token_value, token_type)
), ins AS (
    INSERT INTO tokens (account_id, token_type, token_value, id, customer_id, linked_at, written_seq)
    SELECT account_id, token_type, token_value, token_id, customer_id, updated_at, $3
    FROM cur
    WHERE NOT present
    RETURNING 1
), upd AS (
    UPDATE tokens t
    SET customer_id = cur.customer_id, linked_at = cur.updated_at, written_seq = $3
    FROM cur
    WHERE cur.present
      AND t.account_id = cur.account_id AND t.token_value = cur.token_value AND t.token_type = cur.token_type
      AND t.customer_id IS DISTINCT FROM cur.customer_id
      AND (t.linked_at IS NULL OR t.linked_at <= cur.updated_at)
    RETURNING cur.old_customer IS NOT NULL AS moved
)
SELECT (SELECT count(*) FROM tokenevents_internal.import_stage_links WHERE partition = $1 AND source_id = $2) AS staged,
       (SELECT count(*) FROM l)                   AS distinct_keys,
       (SELECT count(*) FROM ins)                 AS new_tokens,
       (SELECT count(*) FROM upd WHERE NOT moved) AS linked,
       (SELECT count(*) FROM upd WHERE moved)     AS moved
