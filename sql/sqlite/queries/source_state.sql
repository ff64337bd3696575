-- A source's ledger with the rows present in its stage. ?1 source id.
SELECT l.partition, l.staged_upto, l.staged_events, l.staged_links, l.staged_customers, l.merged,
       (SELECT count(*) FROM import_stage s WHERE s.source_id = l.source_id AND s.partition = l.partition) AS present,
       (SELECT count(*) FROM import_stage_links k WHERE k.source_id = l.source_id AND k.partition = l.partition) AS present_links,
       (SELECT count(*) FROM import_stage_customers c WHERE c.source_id = l.source_id AND c.partition = l.partition) AS present_customers
FROM import_ledger l
WHERE l.source_id = ?1
ORDER BY l.partition
