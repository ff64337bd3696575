-- Records, with a staged batch, how far each of its partitions got.
-- $1 source id, $2 partitions, $3 last staged row of each, $4 events,
-- $5 links and $6 customers added to each.
INSERT INTO tokenevents_internal.import_ledger AS l (source_id, partition, staged_upto, staged_events, staged_links, staged_customers)
SELECT $1, p, r, n, k, c
FROM unnest($2::int[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[]) AS u (p, r, n, k, c)
ON CONFLICT (source_id, partition) DO UPDATE
   SET staged_upto = GREATEST(l.staged_upto, EXCLUDED.staged_upto),
       staged_events = l.staged_events + EXCLUDED.staged_events,
       staged_links = l.staged_links + EXCLUDED.staged_links,
       staged_customers = l.staged_customers + EXCLUDED.staged_customers
