-- $1 source key, $2 run id, $3 partitions, $4 last committed row of each.
INSERT INTO import_ledger AS l (source_key, partition, upto_row, run_id)
SELECT $1, p, r, $2
FROM unnest($3::int[], $4::bigint[]) AS u (p, r)
ON CONFLICT (source_key, partition) DO UPDATE
   SET upto_row = GREATEST(l.upto_row, EXCLUDED.upto_row),
       run_id = EXCLUDED.run_id
