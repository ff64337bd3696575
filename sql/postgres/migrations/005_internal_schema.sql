-- Internal tables live in a schema of their own (SPEC §8), so that \dt in
-- public lists what data teams query: tokens, token_events, customers,
-- token_statuses, the run tables and reconcile_changes. Moved here: the
-- import's sources, ledger and staging (every partition: a partition does
-- not follow its parent to another schema), and the reconcile's watermarks
-- and work table.
CREATE SCHEMA IF NOT EXISTS tokenevents_internal;

DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN
        SELECT i.inhrelid::regclass
        FROM pg_inherits i
        WHERE i.inhparent IN ('import_stage'::regclass, 'import_stage_customers'::regclass, 'import_stage_links'::regclass)
    LOOP
        EXECUTE format('ALTER TABLE %s SET SCHEMA tokenevents_internal', t);
    END LOOP;
END
$$;

ALTER TABLE import_stage SET SCHEMA tokenevents_internal;
ALTER TABLE import_stage_customers SET SCHEMA tokenevents_internal;
ALTER TABLE import_stage_links SET SCHEMA tokenevents_internal;
ALTER TABLE import_ledger SET SCHEMA tokenevents_internal;
ALTER TABLE import_sources SET SCHEMA tokenevents_internal;
ALTER TABLE reconcile_watermarks SET SCHEMA tokenevents_internal;
ALTER TABLE reconcile_work SET SCHEMA tokenevents_internal;
