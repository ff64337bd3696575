-- After an import: summarise the BRIN ranges it filled, so that the next
-- incremental reconcile reads just those (ANALYZE follows, from Go).
SELECT brin_summarize_new_values('token_events_written'::regclass),
       brin_summarize_new_values('tokens_written'::regclass)
