-- Records, with a staged batch, how far one of its partitions got.
-- ?1 source id, ?2 partition, ?3 last staged row, ?4 events added.
INSERT INTO import_ledger AS l (source_id, partition, staged_upto, staged_events)
VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (source_id, partition) DO UPDATE
   SET staged_upto = max(l.staged_upto, excluded.staged_upto),
       staged_events = l.staged_events + excluded.staged_events
