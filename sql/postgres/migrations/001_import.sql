-- Tokens, their events and the import bookkeeping.
-- Text keys use the "C" collation: byte order is what the status rule's
-- tie-break asks for, and it is the cheapest order for index maintenance.
-- Every key starts with account_id and contains token_value, so the token
-- tables can be hash-distributed by token_value (Citus) with no cross-node
-- unique check.

CREATE TABLE tokens (
    account_id  text COLLATE "C" NOT NULL,
    token_type  text COLLATE "C" NOT NULL,
    token_value text COLLATE "C" NOT NULL,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    customer_id text COLLATE "C",
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- written_xid tells reconcile which tokens changed since its last run.
    written_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (account_id, token_type, token_value)
);

CREATE TABLE token_events (
    account_id  text COLLATE "C" NOT NULL,
    token_type  text COLLATE "C" NOT NULL,
    token_value text COLLATE "C" NOT NULL,
    event       text COLLATE "C" NOT NULL,
    created_at  timestamptz NOT NULL,
    status      text COLLATE "C" NOT NULL,
    expires_at  timestamptz,
    metadata    jsonb NOT NULL DEFAULT '{}',
    run_id      bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    written_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (account_id, token_type, token_value, event, created_at)
);

CREATE TABLE import_runs (
    id          bigserial PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    outcome     text NOT NULL DEFAULT 'running',
    options     jsonb NOT NULL DEFAULT '{}',
    files       jsonb NOT NULL DEFAULT '[]',
    summary     jsonb
);

CREATE TABLE import_files (
    run_id         bigint NOT NULL REFERENCES import_runs (id),
    file_index     int NOT NULL,
    name           text NOT NULL,
    content_digest text NOT NULL,
    options_digest text NOT NULL,
    outcome        text NOT NULL,
    rows_read      bigint NOT NULL,
    rows_rejected  bigint NOT NULL,
    events         bigint NOT NULL,
    finished_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, file_index)
);

CREATE INDEX import_files_done ON import_files (content_digest, options_digest) WHERE outcome = 'done';

-- The idempotency ledger: per source (content and options) and partition of
-- the token space, the last input row whose events are committed. It is
-- written in the same transaction as the events, and dropped when the file
-- is done.
CREATE TABLE import_ledger (
    source_key text NOT NULL,
    partition  int NOT NULL,
    upto_row   bigint NOT NULL,
    run_id     bigint NOT NULL,
    PRIMARY KEY (source_key, partition)
);
