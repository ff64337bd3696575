-- On Citus: how many distinct event keys one staged partition holds (the
-- rest are duplicates within the file), counted per shard and summed.
-- $1 partition, $2 source id.
SELECT count(*)
FROM (SELECT DISTINCT token_value, account_id, token_type, event, created_us
      FROM tokenevents_internal.import_stage
      WHERE partition = $1 AND source_id = $2) d
