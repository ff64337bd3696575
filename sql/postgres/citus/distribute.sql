-- Spreads the schema over a Citus cluster (SPEC §9). Run by Open, after the
-- migrations, when the database has the citus extension and tokens is not
-- distributed yet: a new database, or a single-server database restored
-- onto a coordinator, whose rows create_distributed_table moves to the
-- workers.
--
-- Hash-distributed on token_value and co-located (the same token value's
-- rows of every table on the same shard): tokens, token_events,
-- token_statuses and reconcile_changes, and what the merge and the
-- reconcile join with them, the staged events and links, the reconcile's
-- work and decided tables. Each merge and reconcile statement then runs as
-- one task per shard on the workers (EXPLAIN shows "Task Count" = shards).
-- customers is a reference table, a copy on every node, because tokens
-- find their customer by customer_id, not by token_value: the join of a
-- token with its customer stays on the token's node. Its limit: every node
-- holds every customer (fine to tens of millions of rows; beyond that it
-- should be distributed by customer_id, at the cost of a repartition step
-- in the reconcile). Staged customers and the run bookkeeping (runs, files,
-- sources, ledger, watermarks) stay small tables of the coordinator.
--
-- Shards: the database's citus.shard_count where it is set (ALTER DATABASE
-- … SET citus.shard_count = N before the first run), else four per
-- worker node present now (at least 8), so that the cluster can grow to
-- four times its workers by moving shards (citus_rebalance_start) without
-- splitting them.

-- The reconcile's decisions for one account, before they are stored
-- (citus_reconcile_*.sql): on a single server one statement decides,
-- records and stores; on Citus those are separate statements, each pushed
-- down, that meet in this table.
CREATE UNLOGGED TABLE IF NOT EXISTS tokenevents_internal.reconcile_decided (
    run_id           bigint NOT NULL,
    account_id       text COLLATE "C" NOT NULL,
    token_type       text COLLATE "C" NOT NULL,
    token_value      text COLLATE "C" NOT NULL,
    token_id         uuid NOT NULL,
    status           text COLLATE "C" NOT NULL,
    decided_by       text NOT NULL,
    event            text COLLATE "C",
    event_created_at timestamptz,
    event_expires_at timestamptz,
    valid_until      timestamptz,
    previous_status  text NOT NULL,
    is_new           boolean NOT NULL,
    differs          boolean NOT NULL
);

DO $$
DECLARE
    shards int := CASE WHEN (SELECT source FROM pg_settings WHERE name = 'citus.shard_count') = 'default'
                       THEN greatest(8, 4 * (SELECT count(*) FROM citus_get_active_worker_nodes()))
                       ELSE current_setting('citus.shard_count')::int END;
BEGIN
    PERFORM create_distributed_table('tokens', 'token_value', shard_count => shards);
    PERFORM create_distributed_table('token_events', 'token_value', colocate_with => 'tokens');
    PERFORM create_distributed_table('token_statuses', 'token_value', colocate_with => 'tokens');
    PERFORM create_distributed_table('reconcile_changes', 'token_value', colocate_with => 'tokens');
    PERFORM create_distributed_table('tokenevents_internal.import_stage', 'token_value', colocate_with => 'tokens');
    PERFORM create_distributed_table('tokenevents_internal.import_stage_links', 'token_value', colocate_with => 'tokens');
    PERFORM create_distributed_table('tokenevents_internal.reconcile_work', 'token_value', colocate_with => 'tokens');
    PERFORM create_distributed_table('tokenevents_internal.reconcile_decided', 'token_value', colocate_with => 'tokens');
    PERFORM create_reference_table('customers');
    -- create_distributed_table copies the rows a table already has to its
    -- shards and leaves the originals, hidden, on the coordinator.
    PERFORM truncate_local_data_after_distributing_table(t)
    FROM unnest(ARRAY['tokens', 'token_events', 'token_statuses', 'reconcile_changes',
                      'tokenevents_internal.import_stage', 'tokenevents_internal.import_stage_links',
                      'tokenevents_internal.reconcile_work', 'tokenevents_internal.reconcile_decided',
                      'customers']::regclass[]) AS t;
END
$$;
