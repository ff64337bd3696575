-- Customers, aggregated statuses and reconcile bookkeeping.

CREATE TABLE customers (
    account_id  text COLLATE "C" NOT NULL,
    customer_id text COLLATE "C" NOT NULL,
    status      text COLLATE "C",
    deleted_at  timestamptz,
    written_xid bigint NOT NULL DEFAULT current_xid(),
    PRIMARY KEY (account_id, customer_id)
);

-- "Changed since the last reconcile" is found through the writing
-- transaction's id. Ids grow as rows are appended, so BRIN finds the recent
-- ones; unlike a B-tree it adds almost nothing to an import.
CREATE INDEX token_events_written ON token_events USING brin (written_xid) WITH (autosummarize = on);
CREATE INDEX tokens_written ON tokens USING brin (written_xid) WITH (autosummarize = on);
CREATE INDEX customers_written ON customers (written_xid);
CREATE INDEX tokens_customer ON tokens (account_id, customer_id) WHERE customer_id IS NOT NULL;

-- A status change of a customer, or a token linked to one, must mark the
-- row as written.
CREATE FUNCTION touch_written_xid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.written_xid := current_xid();
    RETURN NEW;
END
$$;
CREATE TRIGGER customers_written BEFORE UPDATE ON customers
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at)
    EXECUTE FUNCTION touch_written_xid();
CREATE TRIGGER tokens_written BEFORE UPDATE ON tokens
    FOR EACH ROW WHEN (OLD.customer_id IS DISTINCT FROM NEW.customer_id)
    EXECUTE FUNCTION touch_written_xid();

CREATE TABLE token_statuses (
    account_id       text COLLATE "C" NOT NULL,
    token_type       text COLLATE "C" NOT NULL,
    token_value      text COLLATE "C" NOT NULL,
    token_id         uuid NOT NULL,
    status           text COLLATE "C" NOT NULL,
    decided_by       text NOT NULL,
    event            text COLLATE "C",
    event_created_at timestamptz,
    event_expires_at timestamptz,
    valid_until      timestamptz, -- the status may change on its own then
    reconciled_at    timestamptz NOT NULL, -- the --as-of that last changed the row
    run_id           bigint NOT NULL,
    PRIMARY KEY (account_id, token_value, token_type)
);

CREATE INDEX token_statuses_due ON token_statuses (account_id, valid_until) WHERE valid_until IS NOT NULL;

CREATE TABLE reconcile_runs (
    id          bigserial PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    as_of       timestamptz NOT NULL,
    accounts    text[] NOT NULL,
    full_run    boolean NOT NULL,
    outcome     text NOT NULL DEFAULT 'running',
    examined    bigint,
    changed     bigint,
    transitions jsonb
);

-- Per account, what the last reconcile saw: every transaction with an id
-- below seen_xmin was visible to it.
CREATE TABLE reconcile_watermarks (
    account_id text COLLATE "C" PRIMARY KEY,
    seen_xmin  bigint NOT NULL,
    as_of      timestamptz NOT NULL,
    run_id     bigint NOT NULL
);

-- Tokens to recompute in an incremental run.
CREATE UNLOGGED TABLE reconcile_work (
    run_id      bigint NOT NULL,
    account_id  text COLLATE "C" NOT NULL,
    token_value text COLLATE "C" NOT NULL,
    token_type  text COLLATE "C" NOT NULL,
    PRIMARY KEY (run_id, account_id, token_value, token_type)
);

-- The tokens whose status a run changed: the diff report, also kept for
-- data teams to query (a dry run's rows are removed at its end). UNLOGGED
-- and indexed by run only, because a first reconcile writes a row for
-- every token: a server crash empties it, and the report files remain the
-- record.
CREATE UNLOGGED TABLE reconcile_changes (
    run_id           bigint NOT NULL,
    account_id       text COLLATE "C" NOT NULL,
    token_type       text COLLATE "C" NOT NULL,
    token_value      text COLLATE "C" NOT NULL,
    token_id         uuid NOT NULL,
    previous_status  text NOT NULL,
    status           text NOT NULL,
    decided_by       text NOT NULL,
    event            text,
    event_created_at timestamptz,
    event_expires_at timestamptz,
    as_of            timestamptz NOT NULL
);

CREATE INDEX reconcile_changes_run ON reconcile_changes (run_id);
