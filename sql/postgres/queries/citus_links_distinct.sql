-- On Citus: how many distinct tokens one staged partition links (the rest
-- are duplicates within the file), counted per shard and summed.
-- $1 partition, $2 source id.
SELECT count(*)
FROM (SELECT DISTINCT token_value, account_id, token_type
      FROM tokenevents_internal.import_stage_links
      WHERE partition = $1 AND source_id = $2) l
