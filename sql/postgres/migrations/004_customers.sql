-- Customers from loyalty exports (SPEC §7): their metadata, when the
-- row was created here and when its data was true (updated_at: an older
-- export is never applied over it), and when each token was linked to its
-- customer (linked_at, likewise). Staging for customer rows and links
-- beside import_stage and like it: one unlogged table per partition, which
-- a merge truncates, counted in the ledger so that a stage lost to a crash
-- is noticed.
ALTER TABLE customers
    ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN created_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN updated_at timestamptz;
ALTER TABLE tokens ADD COLUMN linked_at timestamptz;
ALTER TABLE import_ledger
    ADD COLUMN staged_links bigint NOT NULL DEFAULT 0,
    ADD COLUMN staged_customers bigint NOT NULL DEFAULT 0;

CREATE TABLE import_stage_customers (
    source_id   bigint NOT NULL,
    partition   smallint NOT NULL,
    seq         bigint NOT NULL,
    account_id  text COLLATE "C" NOT NULL,
    customer_id text COLLATE "C" NOT NULL,
    status      text COLLATE "C",   -- NULL: not set
    status_set  boolean NOT NULL,   -- false: the file has no status column
    deleted_us  bigint,             -- microseconds since the epoch; NULL: not deleted
    deleted_set boolean NOT NULL,   -- false: the file has no deleted_at column
    metadata    jsonb,              -- NULL: the file has no metadata columns
    updated_us  bigint NOT NULL
) PARTITION BY LIST (partition);

CREATE TABLE import_stage_links (
    source_id   bigint NOT NULL,
    partition   smallint NOT NULL,
    seq         bigint NOT NULL,
    token_id    uuid NOT NULL, -- the id a new token gets
    account_id  text COLLATE "C" NOT NULL,
    token_type  text COLLATE "C" NOT NULL,
    token_value text COLLATE "C" NOT NULL,
    customer_id text COLLATE "C" NOT NULL,
    updated_us  bigint NOT NULL
) PARTITION BY LIST (partition);

DO $$
BEGIN
    FOR p IN 0..63 LOOP
        EXECUTE format('CREATE UNLOGGED TABLE import_stage_customers_p%s PARTITION OF import_stage_customers FOR VALUES IN (%s)',
                       lpad(p::text, 2, '0'), p);
        EXECUTE format('CREATE UNLOGGED TABLE import_stage_links_p%s PARTITION OF import_stage_links FOR VALUES IN (%s)',
                       lpad(p::text, 2, '0'), p);
    END LOOP;
END
$$;
