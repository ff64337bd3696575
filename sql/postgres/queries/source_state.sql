-- A source's ledger with the rows actually present in its stage, so that a
-- stage lost to a crash (unlogged tables are emptied) or truncated is noticed.
-- $1 source id.
SELECT l.partition, l.staged_upto, l.staged_events, l.staged_links, l.staged_customers, l.merged,
       coalesce(s.n, 0) AS present,
       coalesce(k.n, 0) AS present_links,
       coalesce(c.n, 0) AS present_customers
FROM tokenevents_internal.import_ledger l
LEFT JOIN (SELECT partition, count(*) AS n FROM tokenevents_internal.import_stage WHERE source_id = $1 GROUP BY partition) s
       ON s.partition = l.partition
LEFT JOIN (SELECT partition, count(*) AS n FROM tokenevents_internal.import_stage_links WHERE source_id = $1 GROUP BY partition) k
       ON k.partition = l.partition
LEFT JOIN (SELECT partition, count(*) AS n FROM tokenevents_internal.import_stage_customers WHERE source_id = $1 GROUP BY partition) c
       ON c.partition = l.partition
WHERE l.source_id = $1
ORDER BY l.partition
