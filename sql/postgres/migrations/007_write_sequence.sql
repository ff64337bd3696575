-- Change tracking by a write sequence instead of transaction ids (SPEC §9).
-- A transaction id means nothing across the nodes of a Citus cluster, and
-- Citus refuses to distribute a table with triggers. Every transaction
-- that writes tokens, token_events or customers now takes one number of
-- tokenevents_internal.write_seq (on the coordinator) and stores it in
-- written_seq of each row it inserts or changes; the statements say so
-- themselves, so the triggers that stamped a moved link or a changed
-- customer are gone. How a reconcile takes its watermark from the sequence
-- so that no write is missed: write_mark() below, and changes.go.
--
-- The sequence starts past the current transaction id: every row written
-- before this migration has a written_xid below it, and the watermarks
-- already stored (transaction ids too) keep their meaning.
CREATE SEQUENCE tokenevents_internal.write_seq AS bigint;
SELECT setval('tokenevents_internal.write_seq', greatest(1, pg_current_xact_id()::text::bigint));

DROP TRIGGER customers_written ON customers;
DROP TRIGGER tokens_written ON tokens;
DROP FUNCTION touch_written_xid();

ALTER TABLE tokens RENAME written_xid TO written_seq;
ALTER TABLE token_events RENAME written_xid TO written_seq;
ALTER TABLE customers RENAME written_xid TO written_seq;
-- next_write_seq() is a writing transaction's number, taken under a shared
-- advisory lock held to the transaction's end; write_mark() is a
-- reconcile's watermark, taken under the same lock held exclusively, so it
-- waits for every open writer: numbers are handed out in order but
-- transactions commit in any order, and a mark read beside an open writer
-- with a smaller number would let the next incremental reconcile skip that
-- writer's rows. On Citus both run on the coordinator, which commits a
-- distributed transaction on its workers before it releases its locks.
-- The importer calls next_write_seq() once per transaction and passes the
-- number to its statements; the column default calls it for a row that
-- another program inserts; a program that changes rows in place sets
-- written_seq = tokenevents_internal.next_write_seq() itself.
CREATE FUNCTION tokenevents_internal.next_write_seq() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(32773604352353656); -- "tokenex"
    RETURN nextval('tokenevents_internal.write_seq');
END
$$;
CREATE FUNCTION tokenevents_internal.write_mark() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(32773604352353656);
    RETURN nextval('tokenevents_internal.write_seq');
END
$$;
ALTER TABLE tokens ALTER written_seq SET DEFAULT tokenevents_internal.next_write_seq();
ALTER TABLE token_events ALTER written_seq SET DEFAULT tokenevents_internal.next_write_seq();
ALTER TABLE customers ALTER written_seq SET DEFAULT tokenevents_internal.next_write_seq();
DROP FUNCTION current_xid();

ALTER TABLE tokenevents_internal.reconcile_watermarks RENAME seen_xmin TO seen_seq;
