-- On Citus, after an import: what after_import.sql and ANALYZE do on one
-- server, shard by shard on the workers, for one distributed table ($1):
-- summarise the BRIN ranges of written_seq the import filled, then
-- refresh the planner's statistics (on the coordinator, where the
-- distributed table has no rows, both would do nothing). Returns whether
-- every shard succeeded.
SELECT bool_and(s.success AND a.success)
FROM run_command_on_shards($1::regclass,
        $cmd$SELECT coalesce(sum(brin_summarize_new_values(i.indexrelid)), 0)
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am m ON m.oid = c.relam
             WHERE i.indrelid = '%s'::regclass AND m.amname = 'brin'$cmd$) s
JOIN run_command_on_shards($1::regclass, 'ANALYZE %s') a USING (shardid)
