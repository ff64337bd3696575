-- Customers from loyalty exports (SPEC §7): their metadata, when the row
-- was created here and when its data was true (updated_at: an older export
-- is never applied over it), and when each token was linked to its
-- customer (linked_at, likewise). Staging for customer rows and links
-- beside import_stage.
ALTER TABLE customers ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
ALTER TABLE customers ADD COLUMN created_at TEXT;
ALTER TABLE customers ADD COLUMN updated_at TEXT;
ALTER TABLE tokens ADD COLUMN linked_at TEXT;
ALTER TABLE import_ledger ADD COLUMN staged_links INTEGER NOT NULL DEFAULT 0;
ALTER TABLE import_ledger ADD COLUMN staged_customers INTEGER NOT NULL DEFAULT 0;

CREATE TABLE import_stage_customers (
    source_id   INTEGER NOT NULL,
    partition   INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    account_id  TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    status      TEXT,              -- NULL: not set
    status_set  INTEGER NOT NULL,  -- 0: the file has no status column
    deleted_at  TEXT,              -- NULL: not deleted
    deleted_set INTEGER NOT NULL,  -- 0: the file has no deleted_at column
    metadata    TEXT,              -- NULL: the file has no metadata columns
    updated_at  TEXT NOT NULL
);
CREATE INDEX import_stage_customers_source ON import_stage_customers (source_id, partition);

CREATE TABLE import_stage_links (
    source_id   INTEGER NOT NULL,
    partition   INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    token_id    TEXT NOT NULL,
    account_id  TEXT NOT NULL,
    token_type  TEXT NOT NULL,
    token_value TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX import_stage_links_source ON import_stage_links (source_id, partition);

-- A token created by a link (it has no events yet) has a status to
-- reconcile: its customer's.
CREATE TRIGGER tokens_inserted_linked AFTER INSERT ON tokens
    WHEN NEW.customer_id IS NOT NULL BEGIN
    INSERT INTO token_writes (account_id, token_value, token_type)
    VALUES (NEW.account_id, NEW.token_value, NEW.token_type);
END;
