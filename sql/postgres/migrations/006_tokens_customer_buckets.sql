-- tokens_customer finds a customer's tokens (an incremental reconcile
-- after a customer changed). Keyed by customer alone, a merge of one
-- partition of links (tokens of one token-value range, customers of every
-- kind) inserted into all of it, and once the index outgrew the server's
-- cache each partition read and wrote most of it again (5 M customers:
-- 18 µs a link against 9 at 1 M). A bucket of the token value's first
-- character now comes before the customer: a partition's links go to one
-- bucket, a sixteenth of the index or two; a lookup by customer probes the
-- sixteen buckets (reconcile_candidates.sql). ascii() & 15 is a bucket for
-- any text, hex or not.
DROP INDEX tokens_customer;
CREATE INDEX tokens_customer ON tokens (account_id, (ascii(token_value) & 15), customer_id) WHERE customer_id IS NOT NULL;
