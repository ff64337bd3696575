-- Records, with a staged batch, how far one of its partitions got.
-- ?1 source id, ?2 partition, ?3 last staged row, ?4 events, ?5 links and
-- ?6 customers added.
INSERT INTO import_ledger AS l (source_id, partition, staged_upto, staged_events, staged_links, staged_customers)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (source_id, partition) DO UPDATE
   SET staged_upto = max(l.staged_upto, excluded.staged_upto),
       staged_events = l.staged_events + excluded.staged_events,
       staged_links = l.staged_links + excluded.staged_links,
       staged_customers = l.staged_customers + excluded.staged_customers
