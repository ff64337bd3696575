-- The embedded store's schema: the same tables and columns as PostgreSQL's
-- (SPEC §5), in SQLite's terms.
-- Timestamps are TEXT in one fixed-width UTC form, 2006-01-02T15:04:05.000000Z,
-- so that they read well, sort as text and compare as text. UUIDs are text.
-- Token tables are WITHOUT ROWID: the key is the table, in key order, as an
-- index-organised table, which is what merges and ordered reconcile passes
-- want.

CREATE TABLE tokens (
    account_id  TEXT NOT NULL,
    token_type  TEXT NOT NULL,
    token_value TEXT NOT NULL,
    -- The importer gives new tokens their id; the default (a random
    -- version 4 UUID) serves rows written by other tools.
    id          TEXT NOT NULL DEFAULT (lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||
                    substr(hex(randomblob(2)), 2) || '-' || substr('89ab', 1 + abs(random()) % 4, 1) ||
                    substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))),
    customer_id TEXT,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (account_id, token_value, token_type)
) WITHOUT ROWID;

CREATE INDEX tokens_customer ON tokens (account_id, customer_id) WHERE customer_id IS NOT NULL;

CREATE TABLE token_events (
    account_id  TEXT NOT NULL,
    token_type  TEXT NOT NULL,
    token_value TEXT NOT NULL,
    event       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    status      TEXT NOT NULL,
    expires_at  TEXT,
    metadata    TEXT NOT NULL DEFAULT '{}',
    run_id      INTEGER NOT NULL,
    updated_at  TEXT, -- null until an import changes the event
    PRIMARY KEY (account_id, token_value, token_type, event, created_at)
) WITHOUT ROWID;

CREATE TABLE customers (
    account_id  TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    status      TEXT,
    deleted_at  TEXT,
    PRIMARY KEY (account_id, customer_id)
) WITHOUT ROWID;

-- token_writes is the log of tokens whose inputs changed, in commit order:
-- SQLite has no transaction ids to compare, so every write that can change a
-- token's status appends the token here (by trigger, whoever writes), and a
-- reconcile remembers the last id it saw. Only one transaction writes at a
-- time, so ids are handed out in commit order. AUTOINCREMENT: ids are never
-- reused after the log is pruned.
CREATE TABLE token_writes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  TEXT NOT NULL,
    token_value TEXT NOT NULL,
    token_type  TEXT NOT NULL
);

CREATE TRIGGER token_events_inserted AFTER INSERT ON token_events BEGIN
    INSERT INTO token_writes (account_id, token_value, token_type)
    VALUES (NEW.account_id, NEW.token_value, NEW.token_type);
END;

CREATE TRIGGER token_events_updated AFTER UPDATE ON token_events BEGIN
    INSERT INTO token_writes (account_id, token_value, token_type)
    VALUES (NEW.account_id, NEW.token_value, NEW.token_type);
END;

CREATE TRIGGER token_events_deleted AFTER DELETE ON token_events BEGIN
    INSERT INTO token_writes (account_id, token_value, token_type)
    VALUES (OLD.account_id, OLD.token_value, OLD.token_type);
END;

CREATE TRIGGER tokens_linked AFTER UPDATE OF customer_id ON tokens
    WHEN OLD.customer_id IS NOT NEW.customer_id BEGIN
    INSERT INTO token_writes (account_id, token_value, token_type)
    VALUES (NEW.account_id, NEW.token_value, NEW.token_type);
END;

CREATE TRIGGER customers_inserted AFTER INSERT ON customers BEGIN
    INSERT INTO token_writes (account_id, token_value, token_type)
    SELECT account_id, token_value, token_type FROM tokens
    WHERE account_id = NEW.account_id AND customer_id = NEW.customer_id;
END;

CREATE TRIGGER customers_updated AFTER UPDATE ON customers
    WHEN OLD.status IS NOT NEW.status OR OLD.deleted_at IS NOT NEW.deleted_at BEGIN
    INSERT INTO token_writes (account_id, token_value, token_type)
    SELECT account_id, token_value, token_type FROM tokens
    WHERE account_id = NEW.account_id AND customer_id = NEW.customer_id;
END;

CREATE TRIGGER customers_deleted AFTER DELETE ON customers BEGIN
    INSERT INTO token_writes (account_id, token_value, token_type)
    SELECT account_id, token_value, token_type FROM tokens
    WHERE account_id = OLD.account_id AND customer_id = OLD.customer_id;
END;

CREATE TABLE import_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    outcome     TEXT NOT NULL DEFAULT 'running',
    options     TEXT NOT NULL DEFAULT '{}', -- JSON
    files       TEXT NOT NULL DEFAULT '[]', -- JSON
    summary     TEXT                        -- JSON
);

CREATE TABLE import_files (
    run_id         INTEGER NOT NULL REFERENCES import_runs (id),
    file_index     INTEGER NOT NULL,
    name           TEXT NOT NULL,
    content_digest TEXT NOT NULL,
    options_digest TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    rows_read      INTEGER NOT NULL,
    rows_rejected  INTEGER NOT NULL,
    events         INTEGER NOT NULL,
    finished_at    TEXT NOT NULL,
    PRIMARY KEY (run_id, file_index)
);

CREATE INDEX import_files_done ON import_files (content_digest, options_digest) WHERE outcome = 'done';

-- A source is one file's content read with one set of options; its ledger
-- records staging and merging per partition so that an interrupted run
-- resumes (see the PostgreSQL schema for the full story).
CREATE TABLE import_sources (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    source_key TEXT NOT NULL UNIQUE,
    run_id     INTEGER NOT NULL,
    merging    INTEGER NOT NULL DEFAULT 0 -- staging is complete
);

CREATE TABLE import_ledger (
    source_id     INTEGER NOT NULL REFERENCES import_sources (id) ON DELETE CASCADE,
    partition     INTEGER NOT NULL,
    staged_upto   INTEGER NOT NULL DEFAULT -1,
    staged_events INTEGER NOT NULL DEFAULT 0,
    merged        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source_id, partition)
) WITHOUT ROWID;

-- Staged events, clustered by source and partition: a batch appends at the
-- end of each of its partitions' runs, and a merge reads and deletes one
-- contiguous run. ord tells apart the events of one input row.
CREATE TABLE import_stage (
    source_id   INTEGER NOT NULL,
    partition   INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    ord         INTEGER NOT NULL,
    token_id    TEXT NOT NULL,
    account_id  TEXT NOT NULL,
    token_type  TEXT NOT NULL,
    token_value TEXT NOT NULL,
    event       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    status      TEXT NOT NULL,
    expires_at  TEXT,
    metadata    TEXT NOT NULL,
    PRIMARY KEY (source_id, partition, seq, ord)
) WITHOUT ROWID;

CREATE TABLE token_statuses (
    account_id       TEXT NOT NULL,
    token_type       TEXT NOT NULL,
    token_value      TEXT NOT NULL,
    token_id         TEXT NOT NULL,
    status           TEXT NOT NULL,
    decided_by       TEXT NOT NULL,
    event            TEXT,
    event_created_at TEXT,
    event_expires_at TEXT,
    valid_until      TEXT, -- the status may change on its own then
    reconciled_at    TEXT NOT NULL,
    run_id           INTEGER NOT NULL,
    PRIMARY KEY (account_id, token_value, token_type)
) WITHOUT ROWID;

CREATE INDEX token_statuses_due ON token_statuses (account_id, valid_until) WHERE valid_until IS NOT NULL;

CREATE TABLE reconcile_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    as_of       TEXT NOT NULL,
    accounts    TEXT NOT NULL, -- JSON array
    full_run    INTEGER NOT NULL,
    outcome     TEXT NOT NULL DEFAULT 'running',
    examined    INTEGER,
    changed     INTEGER,
    transitions TEXT -- JSON
);

-- Per account, the last token_writes id the previous reconcile had seen.
CREATE TABLE reconcile_watermarks (
    account_id TEXT PRIMARY KEY,
    seen_write INTEGER NOT NULL,
    as_of      TEXT NOT NULL,
    run_id     INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE reconcile_work (
    run_id      INTEGER NOT NULL,
    account_id  TEXT NOT NULL,
    token_value TEXT NOT NULL,
    token_type  TEXT NOT NULL,
    PRIMARY KEY (run_id, account_id, token_value, token_type)
) WITHOUT ROWID;

CREATE TABLE reconcile_changes (
    run_id           INTEGER NOT NULL,
    account_id       TEXT NOT NULL,
    token_type       TEXT NOT NULL,
    token_value      TEXT NOT NULL,
    token_id         TEXT NOT NULL,
    previous_status  TEXT NOT NULL,
    status           TEXT NOT NULL,
    decided_by       TEXT NOT NULL,
    event            TEXT,
    event_created_at TEXT,
    event_expires_at TEXT,
    as_of            TEXT NOT NULL,
    PRIMARY KEY (run_id, account_id, token_type, token_value)
) WITHOUT ROWID;
