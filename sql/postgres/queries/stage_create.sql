-- Per-connection staging table for one batch; emptied at every commit.
CREATE TEMP TABLE IF NOT EXISTS stage_events (
    seq         bigint NOT NULL,
    account_id  text COLLATE "C" NOT NULL,
    token_type  text COLLATE "C" NOT NULL,
    token_value text COLLATE "C" NOT NULL,
    event       text COLLATE "C" NOT NULL,
    created_at  timestamptz NOT NULL,
    status      text COLLATE "C" NOT NULL,
    expires_at  timestamptz,
    metadata    jsonb NOT NULL
) ON COMMIT DELETE ROWS
