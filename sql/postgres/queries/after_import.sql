-- After an import: summarise the BRIN ranges it filled in one table ($1,
-- the BRIN index on written_seq), so that the next incremental reconcile
-- reads just those (ANALYZE of the table follows, from Go).
SELECT brin_summarize_new_values($1::regclass)
