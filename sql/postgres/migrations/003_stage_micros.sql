-- Staged timestamps as microseconds since the Unix epoch: COPY reads an
-- integer in a fraction of the time it takes to parse a timestamp, and
-- staging is half of an import's server time. The merge turns them back
-- into timestamptz (merge_partition.sql and its siblings). Rows a
-- resumable run left staged are converted too.
ALTER TABLE import_stage
    ALTER created_at TYPE bigint USING (extract(epoch FROM created_at) * 1000000)::bigint,
    ALTER expires_at TYPE bigint USING (extract(epoch FROM expires_at) * 1000000)::bigint;
ALTER TABLE import_stage RENAME created_at TO created_us;
ALTER TABLE import_stage RENAME expires_at TO expires_us;
