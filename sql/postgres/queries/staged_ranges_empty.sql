-- Whether nothing is stored yet in the key ranges that one staged partition
-- covers: per account, its staged tokens' lowest and highest value. When
-- true, merge_partition_new.sql merges the partition without probing for
-- stored rows (a first import, or a migration into a new database).
-- $1 partition, $2 source id.
SELECT NOT EXISTS (
    SELECT 1
    FROM (SELECT account_id, min(token_value) AS lo, max(token_value) AS hi
          FROM import_stage
          WHERE partition = $1 AND source_id = $2
          GROUP BY account_id) r
    WHERE EXISTS (SELECT 1 FROM tokens t
                  WHERE t.account_id = r.account_id AND t.token_value BETWEEN r.lo AND r.hi)
       OR EXISTS (SELECT 1 FROM token_events e
                  WHERE e.account_id = r.account_id AND e.token_value BETWEEN r.lo AND r.hi)
) AS empty
