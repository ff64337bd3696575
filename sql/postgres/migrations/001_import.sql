-- Tokens, their events and the import bookkeeping.
-- Text keys use the "C" collation: byte order is what the status rule's
-- tie-break asks for, and it is the cheapest order for index maintenance.
-- Every key starts with account_id and contains token_value, so the token
-- tables can be hash-distributed by token_value (Citus) with no cross-node
-- unique check.

-- The id of the writing transaction as a plain bigint (xid8 widened), so
-- that BRIN can index it: ids grow with the heap, and a BRIN index costs
-- next to nothing to maintain on a bulk insert.
CREATE FUNCTION current_xid() RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE
    AS 'SELECT pg_current_xact_id()::text::bigint';

CREATE TABLE tokens (
    account_id  text COLLATE "C" NOT NULL,
    token_type  text COLLATE "C" NOT NULL,
    token_value text COLLATE "C" NOT NULL,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    customer_id text COLLATE "C",
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- written_xid tells reconcile which tokens changed since its last run.
    written_xid bigint NOT NULL DEFAULT current_xid(),
    -- token_value before token_type: a range of token values of an
    -- account is then one contiguous range of the index.
    PRIMARY KEY (account_id, token_value, token_type)
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
    written_xid bigint NOT NULL DEFAULT current_xid(),
    PRIMARY KEY (account_id, token_value, token_type, event, created_at)
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

-- A source is one file's content read with one set of options (its key is
-- a digest of both). An import stages a source's events, then merges them
-- partition by partition; the ledger records both phases so that an
-- interrupted run resumes where it stopped. A source whose import is done
-- keeps no ledger: import_files answers for it.
CREATE TABLE import_sources (
    id         bigserial PRIMARY KEY,
    source_key text NOT NULL UNIQUE,
    run_id     bigint NOT NULL,
    merging    boolean NOT NULL DEFAULT false -- staging is complete
);

CREATE TABLE import_ledger (
    source_id     bigint NOT NULL REFERENCES import_sources (id) ON DELETE CASCADE,
    partition     int NOT NULL,
    staged_upto   bigint NOT NULL DEFAULT -1, -- last input row whose events are staged
    staged_events bigint NOT NULL DEFAULT 0,  -- rows in import_stage, to detect a lost stage
    merged        boolean NOT NULL DEFAULT false,
    PRIMARY KEY (source_id, partition)
);

-- Staged events, one UNLOGGED table per partition of the token space: COPY
-- into them writes no WAL, and a merge reads and truncates one partition.
-- A server crash empties unlogged tables; the ledger's staged_events
-- notices, and the source is staged again.
CREATE TABLE import_stage (
    source_id   bigint NOT NULL,
    partition   smallint NOT NULL,
    seq         bigint NOT NULL,
    token_id    uuid NOT NULL, -- the id a new token gets
    account_id  text COLLATE "C" NOT NULL,
    token_type  text COLLATE "C" NOT NULL,
    token_value text COLLATE "C" NOT NULL,
    event       text COLLATE "C" NOT NULL,
    created_at  timestamptz NOT NULL,
    status      text COLLATE "C" NOT NULL,
    expires_at  timestamptz,
    metadata    jsonb NOT NULL
) PARTITION BY LIST (partition);

DO $$
BEGIN
    FOR p IN 0..63 LOOP
        EXECUTE format('CREATE UNLOGGED TABLE import_stage_p%s PARTITION OF import_stage FOR VALUES IN (%s)',
                       lpad(p::text, 2, '0'), p);
    END LOOP;
END
$$;
