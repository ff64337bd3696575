-- On Citus (SPEC §9) one staged partition is merged by a few statements
-- instead of merge_partition.sql's single one (Citus runs a statement with
-- data-modifying CTEs through the coordinator); each of these joins the
-- stage with a table co-located on token_value, so it runs as one task per
-- shard on the workers. This one: the tokens of the staged events that do
-- not exist yet; its row count is the new tokens. A token gets the id the
-- importer made for it.
-- $1 partition, $2 source id, $3 the transaction's write sequence number.
INSERT INTO tokens (account_id, token_type, token_value, id, written_seq)
SELECT DISTINCT ON (token_value, account_id, token_type) account_id, token_type, token_value, token_id, $3
FROM tokenevents_internal.import_stage
WHERE partition = $1 AND source_id = $2
ORDER BY token_value, account_id, token_type
ON CONFLICT DO NOTHING
